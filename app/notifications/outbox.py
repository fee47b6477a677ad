"""The delivery outbox: each ``notification_delivery`` sent once, through its channel, with retries.

Sending is claim → send → record.  The claim is a compare-and-set
``pending → sending`` committed *before* the send (by the job), so two workers
never both send one delivery; the send happens outside any transaction; the
outcome is recorded in a second one: ``sent``, back to ``pending`` with a
doubling delay, or ``failed`` (a permanent refusal, or out of attempts).

The one unavoidable at-least-once gap: a crash after the channel took the
message but before ``sent`` is recorded leaves the row in ``sending``; after
:data:`STALE_SENDING` the sweeper puts it back to ``pending`` and it is sent
again.  No outbox over a channel without transactions can close it; e-mail
narrows it with a Message-ID derived from the delivery (receivers that
deduplicate show it once); the Telegram Bot API has no such key.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale

from app.database import utcnow
from app.extensions import db
from app.models.notification import NotificationDelivery, NotificationSettings
from app.models.user import User
from app.notifications import inbox, texts
from app.notifications.channel import Channel, DeliveryFailed, Message, channels
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


def _address(channel: str, settings: NotificationSettings, user: User, kind: str) -> str | None:
    """Where ``channel`` reaches ``user`` now; None if they have turned it off since (security notices: never off)."""
    if channel == "email" and kind in inbox.ALWAYS_EMAILED:
        return user.email
    if not inbox.wants(channel, settings):
        return None
    return user.email if channel == "email" else settings.telegram_chat_id


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
    address = (_address(delivery.channel, inbox.settings_of(user.id), user, notification.kind)
               if channel.available() else None)
    with force_locale(user.locale):
        text = inbox.text_of(notification)
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
