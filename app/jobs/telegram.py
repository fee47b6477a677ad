"""The bot's jobs: polling ``getUpdates`` (when ``TELEGRAM_UPDATES=polling``), and sending its answers.

The poll reads the offset, asks Telegram outside any transaction, then accepts the whole page and moves
the offset past it in ONE transaction: a crash before that commit leaves the offset where it was, so the
next poll gets the same updates again (Telegram keeps them until an offset confirms them) and handles
them then; a crash after it finds them recorded.  Either way each update is acted on once
(:mod:`app.notifications.telegram_updates`).  Answers are claimed, sent and recorded like notification
deliveries (:mod:`app.notifications.telegram_replies`).
"""
from __future__ import annotations

import logging

from flask import current_app

from app.core.after_commit import handles
from app.extensions import db
from app.jobs import job
from app.notifications import telegram_api, telegram_replies, telegram_updates

log = logging.getLogger(__name__)


def deliver_reply_now(reply_id: int) -> str:
    """Claim, send and record one answer; ``not due`` when it is not pending (or not yet due)."""
    claimed = telegram_replies.claim(reply_id)
    db.session.commit()
    if claimed is None:
        return "not due"
    failure = telegram_replies.send(claimed)
    outcome = telegram_replies.record(reply_id, failure)
    db.session.commit()
    return outcome


def polling_enabled() -> bool:
    return telegram_api.configured() and current_app.config.get("TELEGRAM_UPDATES", "polling") == "polling"


def poll_once() -> dict[str, int | str]:
    """One ``getUpdates`` page: accepted, offset stored, answers sent."""
    if not polling_enabled():
        return {"skipped": "polling is off"}
    offset = telegram_updates.next_offset()
    db.session.commit()
    wait = int(current_app.config.get("TELEGRAM_POLL_TIMEOUT", 0))
    try:
        updates = telegram_api.call("getUpdates", {"offset": offset, "timeout": wait, "limit": 100,
                                                   "allowed_updates": ["message"]}, read_timeout=wait + 10)
        accepted = telegram_updates.accept_batch(updates, "polling")
    except (telegram_api.BotApiError, telegram_updates.MalformedUpdate) as exc:
        db.session.rollback()
        log.warning("telegram getUpdates failed: %s", exc)
        return {"error": str(exc)}
    db.session.commit()
    sent = [deliver_reply_now(a.reply_id) for a in accepted if a.reply_id is not None]
    return {"updates": len(accepted), "new": sum(a.new for a in accepted), "answered": sent.count("sent")}


@job
def poll_updates() -> dict[str, int | str]:
    return poll_once()


@handles("telegram.reply")
@job
def send_reply(reply_id: int) -> str:
    return deliver_reply_now(reply_id)


@job
def sweep_replies() -> dict[str, int]:
    """Periodic: release answers of crashed workers, then send every due pending one."""
    counts = {"released": telegram_replies.release_stale(), "sent": 0, "retry": 0, "failed": 0}
    db.session.commit()
    if not telegram_api.configured():
        return counts
    for reply_id in telegram_replies.due():
        outcome = deliver_reply_now(reply_id)
        if outcome in counts:
            counts[outcome] += 1
    return counts
