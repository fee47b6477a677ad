"""Notifications: recorded once with the business event, shown in-app, sent where the user chose.

Transactional outbox.  Each service where something happens to a user calls
one function here (``credit_received``, ``invoice_settled`` …) in the same
transaction as the event itself.  That call inserts the ``notification`` row
under a unique event key — a replayed or duplicated event inserts nothing —
and, for a new row, one ``notification_delivery`` per outside channel the user
chose.  Nothing leaves the database until the transaction commits: the
delivery jobs are enqueued after the commit, and a periodic sweeper re-drives
whatever a lost job or a Redis outage left pending.  Sending those deliveries,
exactly once but for one documented gap, is :mod:`app.notifications.outbox`.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core import audit
from app.core.after_commit import after_commit
from app.database import utcnow
from app.errors import NotFound
from app.extensions import db
from app.models.notification import Notification, NotificationDelivery, NotificationSettings
from app.notifications import texts
from app.notifications.channels import channels

PAGE_SIZE = 30
#: security notices go to the account's e-mail whatever channels the user chose (they must reach the owner)
ALWAYS_EMAILED = frozenset({"login_failures"})


# --- recording: one call per business event, inside its transaction -------------------------

def _insert_once(table: sa.Table, row: dict, conflict_on: list[str]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new id, or None when the key exists."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(row).on_conflict_do_nothing(index_elements=conflict_on).returning(table.c.id)
    return db.session.execute(statement).scalar()


def notify(user_id: int, kind: str, event_key: str, **params) -> int | None:
    """Record a notification once per ``event_key`` and queue its outside deliveries (caller commits).

    Returns the new notification's id, or None when this event was already recorded.
    """
    now = utcnow()
    notification_id = _insert_once(Notification.__table__, {
        "user_id": user_id, "kind": kind, "event_key": event_key[:160], "params": params, "created_at": now,
    }, ["event_key"])
    if notification_id is None:
        return None
    targets = chosen_channels(user_id)
    if kind in ALWAYS_EMAILED and "email" in available_channels() and "email" not in targets:
        targets.append("email")
    for channel in targets:
        delivery_id = _insert_once(NotificationDelivery.__table__, {
            "notification_id": notification_id, "channel": channel, "status": "pending", "attempts": 0,
            "created_at": now, "updated_at": now,
        }, ["notification_id", "channel"])
        if delivery_id is not None:
            after_commit("notification.deliver", delivery_id, job_id=f"notification-delivery-{delivery_id}")
    return notification_id


def credit_received(transfer, user_id: int, commission: int) -> None:
    """A room deposit was credited to ``user_id`` (net of the commission)."""
    notify(user_id, "credit_received", f"credit-received:{transfer.id}:{user_id}",
           amount=transfer.amount - commission, commission=commission)


def _seller_id(deposit) -> int | None:
    if deposit.withdrawal_id is None:
        return None
    from app.models.market import WithdrawalRequest

    return db.session.scalar(sa.select(WithdrawalRequest.seller_id).where(WithdrawalRequest.id == deposit.withdrawal_id))


def invoice_settled(deposit) -> None:
    """The buyer got the dollars; the seller sold them."""
    notify(deposit.buyer_id, "invoice_paid", f"invoice-paid:{deposit.id}:{deposit.buyer_id}",
           deposit_id=deposit.id, amount=deposit.usd_cents - deposit.buyer_fee_cents)
    seller_id = _seller_id(deposit)
    if seller_id is not None:
        notify(seller_id, "invoice_sold", f"invoice-sold:{deposit.id}:{seller_id}", deposit_id=deposit.id,
               amount=deposit.usd_cents, rubles=deposit.paid_kopecks or deposit.amount_kopecks)


def dispute_opened(deposit) -> None:
    """The buyer is told their payment is under review.  The seller hears of it once, from the dispute's case,
    asking for their answer by a deadline (:func:`dispute_answer_requested`); older notifications of the kind
    "dispute_opened" with the seller's role still render (app.notifications.texts)."""
    notify(deposit.buyer_id, "dispute_opened", f"dispute-opened:{deposit.id}:buyer:{deposit.buyer_id}",
           deposit_id=deposit.id, role="buyer")


def dispute_answer_requested(case, *, rubles: int) -> None:
    """The seller is asked for their side of a dispute, by the case's deadline (once per case)."""
    notify(case.seller_id, "dispute_answer_requested", f"dispute-answer:{case.id}:{case.seller_id}",
           deposit_id=case.deposit_id, rubles=rubles, due_at=case.answer_due_at.isoformat())


def dispute_resolved(deposit, *, confirmed: bool) -> None:
    outcome = "settled" if confirmed else "rejected"
    notify(deposit.buyer_id, "dispute_resolved", f"dispute-{outcome}:{deposit.id}:buyer:{deposit.buyer_id}",
           deposit_id=deposit.id, role="buyer", confirmed=confirmed,
           amount=deposit.usd_cents - deposit.buyer_fee_cents)
    seller_id = _seller_id(deposit)
    if seller_id is not None:
        notify(seller_id, "dispute_resolved", f"dispute-{outcome}:{deposit.id}:seller:{seller_id}",
               deposit_id=deposit.id, role="seller", confirmed=confirmed, amount=deposit.usd_cents)


def request_filled(request_id: int) -> None:
    from app.models.market import WithdrawalRequest

    request = db.session.get(WithdrawalRequest, request_id)
    notify(request.seller_id, "request_filled", f"request-filled:{request.id}", request_id=request.id,
           amount=request.amount)


def login_failures(user_id: int, window_started_at: datetime, failures: int) -> int | None:
    """Repeated failed sign-ins to the account: once per slow-down window (keyed by the window's start)."""
    return notify(user_id, "login_failures", f"login-failures:{user_id}:{window_started_at.isoformat()}",
                  failures=failures)


def form_circuit_opened(form_id: int, reason: str, opened_at: datetime) -> None:
    """A form's circuit opened: each opening is one event (keyed by when it opened)."""
    from app.models.payment_form import PaymentForm

    user_id, name = db.session.execute(
        sa.select(PaymentForm.user_id, PaymentForm.name).where(PaymentForm.id == form_id)).one()
    notify(user_id, "form_failing", f"form-circuit-opened:{form_id}:{opened_at.isoformat()}",
           form_id=form_id, name=name, reason=reason[:255])


def cash_out_finished(cash_out_id: int, status: str) -> None:
    """A cash-out reached ``sent`` or ``failed``."""
    from app.models.room import CashOut

    user_id, amount = db.session.execute(
        sa.select(CashOut.user_id, CashOut.amount).where(CashOut.id == cash_out_id)).one()
    notify(user_id, f"cash_out_{status}", f"cash-out-{status}:{cash_out_id}", cash_out_id=cash_out_id,
           amount=amount)


# --- the in-app centre ----------------------------------------------------------------------

def unread_count(user_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def page_of(user_id: int, *, before_id: int | None = None, limit: int = PAGE_SIZE) -> list[Notification]:
    """The newest notifications of ``user_id`` (older than ``before_id``, for "show more")."""
    query = sa.select(Notification).where(Notification.user_id == user_id)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list(db.session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def get_own(user, notification_id: int) -> Notification:
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        raise NotFound(str(_l("No such notification.")))
    return notification


def mark_read(user, notification_id: int) -> Notification:
    notification = get_own(user, notification_id)
    if notification.read_at is None:
        notification.read_at = utcnow()
        db.session.flush()
    return notification


def mark_all_read(user) -> int:
    return db.session.execute(sa.update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=utcnow())).rowcount


def text_of(notification: Notification) -> texts.Text:
    return texts.render(notification.kind, notification.params)


# --- users' choice of channels --------------------------------------------------------------

def settings_of(user_id: int) -> NotificationSettings:
    return db.session.get(NotificationSettings, user_id) or NotificationSettings(
        user_id=user_id, email_enabled=False, telegram_enabled=False, telegram_chat_id=None)


def available_channels() -> list[str]:
    return [name for name, channel in channels().items() if channel.available()]


def chosen_channels(user_id: int) -> list[str]:
    """The outside channels a new notification of ``user_id`` goes to."""
    available = available_channels()
    if not available:
        return []
    settings = db.session.get(NotificationSettings, user_id)
    if settings is None:
        return []
    return [name for name in available if wants(name, settings)]


def wants(channel: str, settings: NotificationSettings) -> bool:
    if channel == "email":
        return settings.email_enabled
    return channel == "telegram" and settings.telegram_enabled and bool(settings.telegram_chat_id)


def save_settings(user, *, email_enabled: bool, telegram_enabled: bool) -> None:
    """The user's choice of channels.  Telegram can be on only for a linked chat (app.notifications.telegram_link)."""
    settings = db.session.get(NotificationSettings, user.id)
    if settings is None:
        settings = NotificationSettings(user_id=user.id, telegram_enabled=False)
        db.session.add(settings)
    telegram_enabled = telegram_enabled and settings.telegram_chat_id is not None
    changed = (settings.email_enabled, settings.telegram_enabled) != (email_enabled, telegram_enabled)
    settings.email_enabled = email_enabled
    settings.telegram_enabled = telegram_enabled
    settings.updated_at = utcnow()
    db.session.flush()
    if changed:
        audit.record("notifications.channels_changed", actor=user, target=user, email=email_enabled,
                     telegram=telegram_enabled, telegram_linked=settings.telegram_chat_id is not None)
