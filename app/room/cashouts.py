"""Cash-outs: dollars from a user's wallet to their verified room account.

The dollars are held (a pending ledger transfer) the moment the user asks.
Sending happens in a job, outside any database transaction, with a key the
room deduplicates on; the row moves ``requested → sending`` before the call so
a crash mid-call leaves evidence.  A definite failure voids the hold; success
posts it.  A timeout or a crash is an *unknown* outcome: it is reconciled
against the room (``find_sent`` by key) and only then, if the room has no such
transfer, sent again with the same key — never blind with a new one.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import ledger
from app.connectors.room.base import RoomConnector, SendResult
from app.core import audit, user_lock
from app.core.settings import current_settings
from app.database import utcnow
from app.errors import NotPermitted, ValidationFailed
from app.extensions import db
from app.models.room import CashOut
from app.money import format_usd
from app.people import kyc, user_limits
from app.room import room_accounts
from app.states import CASH_OUT

#: a row left in ``sending`` longer than this is treated as an unknown outcome
STALE_SENDING = timedelta(minutes=2)


def _hold_key(cash_out_id: int) -> str:
    return f"cashout:{cash_out_id}:hold"


def sent_today(user_id: int, now: datetime | None = None) -> int:
    now = now or utcnow()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # int(): PostgreSQL sums BIGINT as NUMERIC; a Decimal here broke the over-the-limit message.
    return int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(CashOut.amount), 0)).where(
            CashOut.user_id == user_id, CashOut.status != "failed", CashOut.created_at >= start
        )
    ) or 0)


def request_cash_out(user, room_account_id: int, amount: int, request_key: str) -> CashOut:
    """Hold ``amount`` and queue the send.  A repeat with the same ``request_key`` returns the first.

    Everything is decided under the user's row lock (:func:`user_lock.lock_owner`): what was sent
    today, the balance, the KYC, the repeat of a form — so requests fired at once are decided one after
    the other, each seeing what the one before wrote.
    """
    owner = user_lock.lock_owner(user.id)
    existing = _by_request_key(user, request_key)
    if existing is not None:
        return existing
    if owner.is_frozen:
        raise NotPermitted(str(_l("Your account is frozen; cash-outs are paused. Contact support.")))
    account = room_accounts.get_own(user, room_account_id)
    if not account.is_verified:
        raise ValidationFailed(str(_l("Cash-outs go only to a verified room account.")))
    settings = current_settings()
    if amount < settings.cashout_min_cents:
        raise ValidationFailed(str(_l("The minimum cash-out is %(min)s.", min=format_usd(settings.cashout_min_cents))))
    kyc.check(owner.kyc_status, amount, settings.kyc_threshold_cents, what="cash_out")
    _check_room_for(user.id, amount, settings.cashout_daily_limit_cents)
    cash_out = CashOut(user_id=user.id, room_account_id=account.id, amount=amount, status="requested",
                       request_key=request_key, send_key=f"pp-co-{request_key}")
    try:
        with db.session.begin_nested():
            db.session.add(cash_out)
    except sa.exc.IntegrityError:
        # the key was used by another user's request (the user's own repeats waited at the lock above)
        raise ValidationFailed(str(_l("This form was already used; reload the page."))) from None
    hold = ledger.reserve(
        key=_hold_key(cash_out.id), debit=ledger.wallet_of(user.id),
        credit=ledger.platform_account(ledger.AccountKind.CASHOUTS_IN_FLIGHT),
        amount=amount, kind="cashout_hold", memo=f"cash-out {cash_out.id}", event=f"cashout:{cash_out.id}",
    )
    cash_out.hold_transfer_id = hold.id
    audit.record("cash_out.requested", actor=user, target=cash_out, amount=amount, room_account_id=account.id)
    return cash_out


def _by_request_key(user, request_key: str) -> CashOut | None:
    existing = db.session.scalar(sa.select(CashOut).where(CashOut.request_key == request_key))
    if existing is not None and existing.user_id != user.id:
        raise ValidationFailed(str(_l("This form was already used; reload the page.")))
    return existing


def _check_room_for(user_id: int, amount: int, platform_limit: int) -> None:
    """Refuse ``amount`` over the wallet's available dollars or what is left of today's limit, naming the
    one that binds: "not enough dollars" when it is the balance (issue #17 showed the limit for both)."""
    available = ledger.balance(ledger.wallet_of(user_id)).available
    left_today = max(user_limits.cashout_daily_limit(user_id, platform_limit) - sent_today(user_id), 0)
    if amount <= min(available, left_today):
        return
    if available <= left_today:
        raise ValidationFailed(str(_l("Not enough dollars: %(available)s available in your wallet.",
                                      available=format_usd(max(available, 0)))))
    raise ValidationFailed(str(_l("This is over your daily cash-out limit; %(left)s left today.",
                                  left=format_usd(left_today))))


def begin_send(cash_out_id: int) -> CashOut | None:
    """Claim a cash-out for sending (``requested`` → ``sending``); None if not ours to send."""
    if not CASH_OUT.transition(CashOut, cash_out_id, "sending", expect="requested"):
        return None
    cash_out = db.session.get(CashOut, cash_out_id)
    cash_out.attempts += 1
    return cash_out


def record_result(cash_out_id: int, result: SendResult) -> str:
    """Apply what the room said about a send; returns the new status."""
    if result.status == "sent":
        return _finish_sent(cash_out_id, result.room_transfer_id)
    if result.status == "failed":
        return _finish_failed(cash_out_id, result.reason or "failed")
    CASH_OUT.transition(CashOut, cash_out_id, "unknown", expect="sending", failure_reason=(result.reason or "")[:255])
    return "unknown"


def _finish_sent(cash_out_id: int, room_transfer_id: str | None, *, by_hand: bool = False) -> str:
    expect = ["requested", "sending", "unknown"] if by_hand else ["sending", "unknown"]
    if not CASH_OUT.transition(CashOut, cash_out_id, "sent", expect=expect, room_transfer_id=room_transfer_id):
        return db.session.get(CashOut, cash_out_id).status
    cash_out = db.session.get(CashOut, cash_out_id)
    event = f"cashout:{cash_out.id}"
    ledger.post_pending(key=f"{event}:post", pending_id=cash_out.hold_transfer_id)
    ledger.transfer(
        key=f"{event}:left-room", debit=ledger.platform_account(ledger.AccountKind.CASHOUTS_IN_FLIGHT),
        credit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS), amount=cash_out.amount,
        kind="cashout", memo=f"room transfer {room_transfer_id}", event=event,
    )
    audit.record("cash_out.sent", target=cash_out, room_transfer_id=room_transfer_id)
    from app.notifications import inbox

    inbox.cash_out_finished(cash_out.id, "sent")
    return "sent"


def _finish_failed(cash_out_id: int, reason: str) -> str:
    if not CASH_OUT.transition(CashOut, cash_out_id, "failed", expect=["requested", "sending", "unknown"],
                               failure_reason=reason[:255]):
        return db.session.get(CashOut, cash_out_id).status
    cash_out = db.session.get(CashOut, cash_out_id)
    ledger.void_pending(key=f"cashout:{cash_out.id}:void", pending_id=cash_out.hold_transfer_id)
    audit.record("cash_out.failed", target=cash_out, reason=reason[:255])
    from app.notifications import inbox

    inbox.cash_out_finished(cash_out.id, "failed")
    return "failed"


def reconcile_unknown(cash_out_id: int, connector: RoomConnector) -> str:
    """Settle an unknown outcome from the room's own record; never sends."""
    cash_out = db.session.get(CashOut, cash_out_id)
    if cash_out is None or cash_out.status not in ("unknown", "sending"):
        return cash_out.status if cash_out else "missing"
    found = connector.find_sent(cash_out.send_key)
    if found is not None and found.status == "sent":
        return _finish_sent(cash_out.id, found.room_transfer_id)
    return cash_out.status


def stale_in_flight(now: datetime | None = None) -> list[int]:
    """Cash-outs whose outcome must be reconciled: unknown, or stuck in sending."""
    now = now or utcnow()
    return list(db.session.scalars(
        sa.select(CashOut.id).where(sa.or_(
            CashOut.status == "unknown",
            sa.and_(CashOut.status == "sending", CashOut.updated_at < now - STALE_SENDING),
        )).order_by(CashOut.id).limit(200)
    ))


def requested_ids() -> list[int]:
    return list(db.session.scalars(
        sa.select(CashOut.id).where(CashOut.status == "requested").order_by(CashOut.id).limit(200)
    ))


def retry_after_reconcile(cash_out_id: int) -> CashOut | None:
    """The room has no transfer with our key: claim the row to send again with the same key."""
    if not CASH_OUT.transition(CashOut, cash_out_id, "sending", expect="unknown"):
        return None
    cash_out = db.session.get(CashOut, cash_out_id)
    cash_out.attempts += 1
    return cash_out



# --- the manual connector: ops send through the poker client and confirm here ---------------

def pending_for_ops() -> list[CashOut]:
    return list(db.session.scalars(
        sa.select(CashOut).where(CashOut.status.in_(["requested", "unknown"])).order_by(CashOut.id)
    ))


def confirm_by_hand(cash_out_id: int, room_transfer_id: str, *, actor, reason: str) -> str:
    """Ops sent the dollars themselves and give the room's transfer id; posts the hold once."""
    room_transfer_id = (room_transfer_id or "").strip()
    if not room_transfer_id or not (reason or "").strip():
        raise ValidationFailed(str(_l("Give the room's transfer id and a reason.")))
    cash_out = db.session.get(CashOut, cash_out_id)
    if cash_out is None or cash_out.status not in ("requested", "unknown"):
        raise ValidationFailed(str(_l("This cash-out is no longer waiting to be sent.")))
    status = _finish_sent(cash_out_id, room_transfer_id[:128], by_hand=True)
    audit.record("cash_out.confirmed_by_hand", actor=actor, target_type="cash_out", target_id=cash_out_id,
                 reason=reason, room_transfer_id=room_transfer_id[:128])
    return status


def fail_by_hand(cash_out_id: int, *, actor, reason: str) -> str:
    """Ops could not send it: the dollars go back to the wallet."""
    if not (reason or "").strip():
        raise ValidationFailed(str(_l("A reason is required.")))
    cash_out = db.session.get(CashOut, cash_out_id)
    if cash_out is None or cash_out.status not in ("requested", "unknown"):
        raise ValidationFailed(str(_l("This cash-out is no longer waiting to be sent.")))
    status = _finish_failed(cash_out_id, reason)
    audit.record("cash_out.failed_by_hand", actor=actor, target_type="cash_out", target_id=cash_out_id, reason=reason)
    return status
