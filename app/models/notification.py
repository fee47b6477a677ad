"""In-app notifications, their outbox of deliveries to other channels, and users' channel choices.

Exactly-once rests on two unique keys, both written in the transaction of the
business event that causes them (a transactional outbox):
- ``notification.event_key`` ("invoice-settled:<deposit id>:<user id>"): a
  replayed event inserts nothing (INSERT … ON CONFLICT DO NOTHING);
- ``notification_delivery (notification_id, channel)``: one delivery per channel.
A delivery is sent by a job after the commit and moves
``pending → sending → sent | pending (retry) | failed`` by compare-and-set
(:data:`app.notifications.outbox.DELIVERY`), so two workers never both send it.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db

NOTIFICATION_KINDS = (
    "credit_received", "invoice_paid", "invoice_sold", "request_filled", "form_failing",
    "cash_out_sent", "cash_out_failed", "dispute_opened", "dispute_resolved", "payment_exception",
    "login_failures", "dispute_answer_requested",
)
CHANNELS = ("email", "telegram")
DELIVERY_STATES = ("pending", "sending", "sent", "failed")


def _quoted(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Notification(db.Model):
    __tablename__ = "notification"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN ({_quoted(NOTIFICATION_KINDS)})", name="kind_known"),
        # The bell's count: one index-only look-up of a user's unread rows.
        sa.Index("ix_notification_unread", "user_id",
                 sqlite_where=sa.text("read_at IS NULL"), postgresql_where=sa.text("read_at IS NULL")),
        sa.Index("ix_notification_user_list", "user_id", "id"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    #: the business event and recipient ("cash-out-sent:12:7"): written once, whatever replays
    event_key: so.Mapped[str] = so.mapped_column(sa.String(160), unique=True)
    #: what the text needs (amounts in minor units, ids, a reason code); rendered in the reader's language
    params: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    read_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class NotificationDelivery(db.Model):
    """One notification sent through one outside channel (e-mail, Telegram): the outbox row."""

    __tablename__ = "notification_delivery"
    __table_args__ = (
        sa.UniqueConstraint("notification_id", "channel", name="uq_notification_delivery_once"),
        sa.CheckConstraint(f"channel IN ({_quoted(CHANNELS)})", name="channel_known"),
        sa.CheckConstraint(f"status IN ({_quoted(DELIVERY_STATES)})", name="status_known"),
        sa.CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        sa.Index("ix_notification_delivery_open", "status", "next_attempt_at",
                 sqlite_where=sa.text("status IN ('pending', 'sending')"),
                 postgresql_where=sa.text("status IN ('pending', 'sending')")),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    notification_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("notification.id"), index=True)
    channel: so.Mapped[str] = so.mapped_column(sa.String(16))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="pending")
    #: sends tried (claimed); a failed try waits ``next_attempt_at``, and after the limit the row fails
    attempts: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    next_attempt_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: why the last try failed, in words safe to show and log (never a token or a URL with one)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    notification = so.relationship("Notification")


class NotificationSettings(db.Model):
    """A user's choice of outside channels (the in-app centre is always on)."""

    __tablename__ = "notification_settings"

    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), primary_key=True)
    #: to the account's e-mail address
    email_enabled: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    telegram_enabled: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    #: the chat the bot writes to (the user's numeric id, given on the settings page)
    telegram_chat_id: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
