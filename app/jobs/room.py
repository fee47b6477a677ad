"""Room jobs: the feed poller, cash-out sending, their sweeper, reconciliation."""
from __future__ import annotations

import logging

from flask import current_app

from app.connectors.room.base import RoomError, SendResult
from app.connectors.room.registry import room_connector_from_config
from app.core.after_commit import handles
from app.extensions import db
from app.jobs import job
from app.redis_client import get_redis
from app.room import cashouts, reconciliation, room_ingest

log = logging.getLogger(__name__)

#: pages read per poll; the next poll continues from the stored cursor
MAX_PAGES_PER_POLL = 20


def connector():
    return room_connector_from_config(current_app.config)


def poll_room_feed_once(room=None) -> dict[str, int]:
    """Read the feed page by page, committing each page together with its cursor."""
    room = room or connector()
    if room is None:
        return {"credited": 0, "unmatched": 0, "pages": 0}
    feed = room.name
    totals = {"credited": 0, "unmatched": 0, "pages": 0}
    for _ in range(MAX_PAGES_PER_POLL):
        page = room.fetch_transfers(room_ingest.get_cursor(feed))
        outcome = room_ingest.ingest_page(page.transfers, source=feed)
        if page.next_cursor is not None:
            room_ingest.set_cursor(feed, page.next_cursor)
        db.session.commit()
        totals["pages"] += 1
        for key, value in outcome.items():
            totals[key] += value
        if not page.has_more:
            break
    return totals


@job
def poll_room_feed() -> dict[str, int] | None:
    """Scheduled: one poller at a time (a Redis lock); correctness does not depend on the lock."""
    lock = get_redis().lock("pokerpay:lock:room-poll", timeout=120, blocking=False)
    if not lock.acquire(blocking=False):
        return None
    try:
        return poll_room_feed_once()
    except RoomError as exc:
        log.warning("room feed unavailable: %s", type(exc).__name__)
        db.session.rollback()
        return None
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired lock: the next poll is just as safe
            log.info("room poll lock had expired before release")


def send_cash_out_now(cash_out_id: int, room=None, *, retry: bool = False) -> str:
    """Claim, send outside the transaction, record.  Safe to call twice."""
    room = room or connector()
    if room is None:
        return "manual"  # with the manual connector, ops send and confirm by hand
    claimed = cashouts.retry_after_reconcile(cash_out_id) if retry else cashouts.begin_send(cash_out_id)
    if claimed is None:
        db.session.rollback()
        return "not-claimed"
    db.session.commit()  # `sending` is durable before the money can move
    to, amount, key = claimed.room_account.identifier, claimed.amount, claimed.send_key
    try:
        result = room.send_transfer(to=to, amount=amount, key=key, note=f"PokerPay cash-out {cash_out_id}")
    except Exception as exc:  # noqa: BLE001 - whatever happened, the outcome is unknown
        result = SendResult("unknown", reason=type(exc).__name__)
    status = cashouts.record_result(cash_out_id, result)
    db.session.commit()
    return status


@handles("cash_out.send")
@job
def send_cash_out(cash_out_id: int) -> str:
    return send_cash_out_now(cash_out_id)


def sweep_cash_outs_once(room=None) -> dict[str, int]:
    """Re-drive cash-outs: send requested ones whose job was lost; reconcile unknown outcomes."""
    room = room or connector()
    counts = {"sent": 0, "reconciled": 0, "retried": 0}
    if room is None:
        return counts
    for cash_out_id in cashouts.requested_ids():
        send_cash_out_now(cash_out_id, room)
        counts["sent"] += 1
    for cash_out_id in cashouts.stale_in_flight():
        try:
            status = cashouts.reconcile_unknown(cash_out_id, room)
        except RoomError:
            db.session.rollback()
            continue
        db.session.commit()
        if status == "sent":
            counts["reconciled"] += 1
        elif status == "sending":
            # Stuck mid-call and the room has nothing under our key yet: mark unknown first,
            # so the next sweep (after the request can no longer land) sends again.
            cashouts.record_result(cash_out_id, SendResult("unknown", reason="stale"))
            db.session.commit()
        elif status == "unknown":
            send_cash_out_now(cash_out_id, room, retry=True)
            counts["retried"] += 1
    return counts


@job
def sweep_cash_outs() -> dict[str, int]:
    return sweep_cash_outs_once()


@job
def reconcile_room() -> int | None:
    run = reconciliation.reconcile(connector())
    db.session.commit()
    return run.difference


@job
def expire_room_verifications() -> int:
    """Delete room-account verifications past their time (they already stopped counting when they expired)."""
    from app.room import room_accounts

    gone = room_accounts.sweep_expired()
    db.session.commit()
    return gone
