"""Notifications: recorded once with the business event, shown in-app, delivered through outside channels.

Transactional outbox.  Each service where something happens to a user calls
one function here (``credit_received``, ``invoice_settled`` …) in the same
transaction as the event itself.  That call inserts the ``notification`` row
under a unique event key — a replayed or duplicated event inserts nothing —
and, for a new row, one ``notification_delivery`` per outside channel the user
chose.  Nothing leaves the database until the transaction commits: the
delivery jobs are enqueued after the commit, and a periodic sweeper re-drives
whatever a lost job or a Redis outage left pending.

Sending is claim → send → record.  The claim is a compare-and-set
``pending → sending`` committed *before* the send, so two workers never both
send one delivery.  A crash after the channel took the message but before
``sent`` is recorded leaves the row in ``sending``; after :data:`STALE_SENDING`
the sweeper puts it back to ``pending`` and it is sent again.  That window is
the one unavoidable at-least-once gap of any outbox over a channel without
transactions; e-mail narrows it with a Message-ID derived from the delivery
(receivers that deduplicate show it once), the Telegram Bot API has no such key.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from app.database import utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models.notification import Notification, NotificationDelivery, NotificationSettings
from app.models.user import User
from app.notify import texts
from app.notify.base import Channel, DeliveryFailed, Message, channels
from app.services import audit
from app.states import StateMachine

log = logging.getLogger(__name__)

#: an outside delivery: claimed before sending, so it is sent by one worker only
DELIVERY = StateMachine(
    "notification delivery",
    {"pending": frozenset({"sending", "failed"}), "sending": frozenset({"sent", "pending", "failed"})},
    frozenset({"sent", "failed"}),
)
#: a delivery left in ``sending`` this long is taken to be from a crashed worker and re-driven
STALE_SENDING = timedelta(minutes=5)
MAX_RETRY_DELAY = timedelta(hours=1)
PAGE_SIZE = 30
_CHAT_ID_RE = re.compile(r"-?\d{1,20}")


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
    for channel in chosen_channels(user_id):
        delivery_id = _insert_once(NotificationDelivery.__table__, {
            "notification_id": notification_id, "channel": channel, "status": "pending", "attempts": 0,
            "created_at": now, "updated_at": now,
        }, ["notification_id", "channel"])
        if delivery_id is not None:
            from app.jobs import enqueue_after_commit
            from app.jobs.notifications import send_delivery

            enqueue_after_commit(send_delivery, delivery_id, job_id=f"notification-delivery-{delivery_id}")
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
    notify(deposit.buyer_id, "dispute_opened", f"dispute-opened:{deposit.id}:buyer:{deposit.buyer_id}",
           deposit_id=deposit.id, role="buyer")
    seller_id = _seller_id(deposit)
    if seller_id is not None:
        notify(seller_id, "dispute_opened", f"dispute-opened:{deposit.id}:seller:{seller_id}",
               deposit_id=deposit.id, role="seller", rubles=deposit.amount_kopecks)


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
    return [name for name in available if _wants(name, settings)]


def _wants(channel: str, settings: NotificationSettings) -> bool:
    if channel == "email":
        return settings.email_enabled
    return channel == "telegram" and settings.telegram_enabled and bool(settings.telegram_chat_id)


def _address(channel: str, settings: NotificationSettings, user: User) -> str | None:
    """Where ``channel`` reaches ``user`` now; None if they have turned it off since."""
    if not _wants(channel, settings):
        return None
    return user.email if channel == "email" else settings.telegram_chat_id


def save_settings(user, *, email_enabled: bool, telegram_enabled: bool, telegram_chat_id: str | None) -> None:
    chat_id = (telegram_chat_id or "").strip() or None
    if chat_id is not None and not _CHAT_ID_RE.fullmatch(chat_id):
        raise ValidationFailed(str(_l("A Telegram chat id is a number, like 123456789.")))
    if telegram_enabled and chat_id is None:
        raise ValidationFailed(str(_l("Enter your Telegram chat id to get messages there.")))
    settings = db.session.get(NotificationSettings, user.id)
    if settings is None:
        settings = NotificationSettings(user_id=user.id)
        db.session.add(settings)
    changed = (settings.email_enabled, settings.telegram_enabled, settings.telegram_chat_id) != (
        email_enabled, telegram_enabled, chat_id)
    settings.email_enabled = email_enabled
    settings.telegram_enabled = telegram_enabled
    settings.telegram_chat_id = chat_id
    settings.updated_at = utcnow()
    db.session.flush()
    if changed:
        audit.record("notifications.channels_changed", actor=user, target=user, email=email_enabled,
                     telegram=telegram_enabled, telegram_linked=chat_id is not None)


# --- sending: claim, send outside any transaction, record -----------------------------------

@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    channel: Channel
    #: None when the user has turned the channel off since (the delivery is then dropped)
    address: str | None
    message: Message


def _max_attempts() -> int:
    return int(current_app.config.get("NOTIFY_MAX_ATTEMPTS", 8))


def claim(delivery_id: int, now: datetime | None = None) -> Claimed | None:
    """Take a due pending delivery for sending (``pending → sending``); None if it is not ours to send.

    The caller commits before sending, so the claim holds whatever happens next.
    """
    now = now or utcnow()
    delivery = db.session.get(NotificationDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None
    table = NotificationDelivery.__table__
    if not DELIVERY.transition(NotificationDelivery, delivery_id, "sending", expect="pending",
                               attempts=table.c.attempts + 1, updated_at=now):
        return None
    delivery = db.session.get(NotificationDelivery, delivery_id)
    notification = delivery.notification
    user = db.session.get(User, notification.user_id)
    channel = channels()[delivery.channel]
    address = _address(delivery.channel, settings_of(user.id), user) if channel.available() else None
    with force_locale(user.locale):
        text = text_of(notification)
        message = Message(title=text.title, body=text.body, link=texts.target_url(text, external=True),
                          dedup_key=f"pokerpay-notification-{notification.id}-{delivery.channel}")
    return Claimed(delivery_id, channel, address, message)


def send_claimed(claimed: Claimed) -> DeliveryFailed | None:
    """Hand the message to the channel (no database work); the failure, or None once it is taken."""
    if claimed.address is None:
        return DeliveryFailed("the channel is turned off", permanent=True)
    try:
        claimed.channel.send(claimed.address, claimed.message)
    except DeliveryFailed as exc:
        return exc
    return None


def record_outcome(delivery_id: int, failure: DeliveryFailed | None, now: datetime | None = None) -> str:
    """``sent``; or back to ``pending`` with a backoff; or ``failed`` (permanent, or out of attempts)."""
    now = now or utcnow()
    if failure is None:
        DELIVERY.transition(NotificationDelivery, delivery_id, "sent", expect="sending", sent_at=now,
                            last_error=None, updated_at=now)
        return "sent"
    attempts = db.session.scalar(sa.select(NotificationDelivery.attempts).where(NotificationDelivery.id == delivery_id))
    log.warning("notification delivery %s failed (attempt %s): %s", delivery_id, attempts, failure.reason)
    if failure.permanent or attempts >= _max_attempts():
        DELIVERY.transition(NotificationDelivery, delivery_id, "failed", expect="sending",
                            last_error=failure.reason, updated_at=now)
        return "failed"
    base = float(current_app.config.get("NOTIFY_RETRY_BASE_SECONDS", 30))
    delay = min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)
    DELIVERY.transition(NotificationDelivery, delivery_id, "pending", expect="sending", last_error=failure.reason,
                        next_attempt_at=now + delay, updated_at=now)
    return "retry"


def due_deliveries(now: datetime | None = None, limit: int = 100) -> list[int]:
    now = now or utcnow()
    return list(db.session.scalars(
        sa.select(NotificationDelivery.id)
        .where(NotificationDelivery.status == "pending",
               sa.or_(NotificationDelivery.next_attempt_at.is_(None), NotificationDelivery.next_attempt_at <= now))
        .order_by(NotificationDelivery.id).limit(limit)
    ))


def release_stale(now: datetime | None = None) -> int:
    """Deliveries stuck in ``sending`` (their worker died): back to ``pending`` — the at-least-once gap."""
    now = now or utcnow()
    table = NotificationDelivery.__table__
    stale = list(db.session.scalars(sa.select(table.c.id).where(
        table.c.status == "sending", table.c.updated_at < now - STALE_SENDING).limit(100)))
    released = 0
    for delivery_id in stale:
        if DELIVERY.transition(NotificationDelivery, delivery_id, "pending", expect="sending",
                               last_error="the worker stopped while sending", updated_at=now):
            released += 1
    return released
