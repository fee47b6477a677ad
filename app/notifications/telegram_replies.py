"""The bot's answers to updates: an outbox, each ``telegram_reply`` sent once with retries.

Claim → send → record, as for notification deliveries (:mod:`app.notifications.outbox`): the claim
``pending → sending`` is committed before the send (by the job), so two workers never both send one
answer; the send runs outside any transaction; the outcome is recorded in a second one.  The same
at-least-once gap remains: a crash after Telegram took the message but before ``sent`` is recorded
leaves the row in ``sending``, and after :data:`STALE_SENDING` it is sent again — the Bot API has no
idempotency key to close it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.database import utcnow
from app.extensions import db
from app.models.telegram import TelegramReply
from app.notifications import telegram_api
from app.states import StateMachine

log = logging.getLogger(__name__)

REPLY = StateMachine(
    "telegram reply",
    {"pending": frozenset({"sending", "failed"}), "sending": frozenset({"sent", "pending", "failed"})},
    frozenset({"sent", "failed"}),
)
STALE_SENDING = timedelta(minutes=5)
MAX_RETRY_DELAY = timedelta(hours=1)


@dataclass(frozen=True)
class Claimed:
    reply_id: int
    chat_id: str
    text: str


def add(update_id: int, chat_id: str, text: str, now: datetime | None = None) -> int:
    """Queue the answer to ``update_id`` in the update's own transaction (caller commits)."""
    now = now or utcnow()
    reply = TelegramReply(update_id=update_id, chat_id=chat_id, text=text, status="pending", attempts=0,
                          created_at=now, updated_at=now)
    db.session.add(reply)
    db.session.flush()
    return reply.id


def claim(reply_id: int, now: datetime | None = None) -> Claimed | None:
    """``pending → sending`` when due; None when it is not ours to send.  The caller commits before sending."""
    now = now or utcnow()
    reply = db.session.get(TelegramReply, reply_id)
    if reply is None or reply.status != "pending" or (reply.next_attempt_at and reply.next_attempt_at > now):
        return None
    if not REPLY.transition(TelegramReply, reply_id, "sending", expect="pending",
                            attempts=TelegramReply.__table__.c.attempts + 1, updated_at=now):
        return None
    reply = db.session.get(TelegramReply, reply_id)
    return Claimed(reply_id, reply.chat_id, reply.text)


def send(claimed: Claimed) -> telegram_api.BotApiError | None:
    """``sendMessage`` (no database work); the failure, or None once Telegram took it."""
    try:
        telegram_api.call("sendMessage", {"chat_id": claimed.chat_id, "text": claimed.text,
                                          "disable_web_page_preview": True})
    except telegram_api.BotApiError as exc:
        return exc
    return None


def record(reply_id: int, failure: telegram_api.BotApiError | None, now: datetime | None = None) -> str:
    """``sent``; back to ``pending`` after a doubling delay; or ``failed`` (permanent, or out of attempts)."""
    now = now or utcnow()
    if failure is None:
        REPLY.transition(TelegramReply, reply_id, "sent", expect="sending", last_error=None, updated_at=now)
        return "sent"
    attempts = db.session.scalar(sa.select(TelegramReply.attempts).where(TelegramReply.id == reply_id)) or 0
    log.warning("telegram reply %s failed (attempt %s): %s", reply_id, attempts, failure.description)
    if failure.permanent or attempts >= int(current_app.config.get("NOTIFY_MAX_ATTEMPTS", 8)):
        REPLY.transition(TelegramReply, reply_id, "failed", expect="sending", last_error=failure.description,
                         updated_at=now)
        return "failed"
    base = float(current_app.config.get("NOTIFY_RETRY_BASE_SECONDS", 30))
    delay = min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)
    REPLY.transition(TelegramReply, reply_id, "pending", expect="sending", last_error=failure.description,
                     next_attempt_at=now + delay, updated_at=now)
    return "retry"


def due(now: datetime | None = None, limit: int = 100) -> list[int]:
    now = now or utcnow()
    return list(db.session.scalars(
        sa.select(TelegramReply.id).where(
            TelegramReply.status == "pending",
            sa.or_(TelegramReply.next_attempt_at.is_(None), TelegramReply.next_attempt_at <= now))
        .order_by(TelegramReply.id).limit(limit)))


def release_stale(now: datetime | None = None) -> int:
    """Answers stuck in ``sending`` (their worker died) go back to ``pending``: the at-least-once gap."""
    now = now or utcnow()
    stale = list(db.session.scalars(sa.select(TelegramReply.id).where(
        TelegramReply.status == "sending", TelegramReply.updated_at < now - STALE_SENDING).limit(100)))
    return sum(REPLY.transition(TelegramReply, reply_id, "pending", expect="sending",
                                last_error="the worker stopped while sending", updated_at=now)
               for reply_id in stale)
