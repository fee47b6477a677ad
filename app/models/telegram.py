"""Linking a Telegram chat to an account without typing a chat id: one-time start tokens and the bot's updates.

- ``telegram_link_token``: what the deep link ``https://t.me/<bot>?start=<token>`` carries.  Only the
  SHA-256 of the token is stored (a database reader cannot link a chat); it belongs to one user, expires,
  and is used at most once (``used_at`` is set by compare-and-set).  A user has at most one unused token
  (a partial UNIQUE index backs the service, which replaces the old one under the user's row lock).
- ``telegram_update``: every update the bot received, keyed by Telegram's ``update_id`` — the same update
  delivered twice (a webhook retry, a poll repeated after a crash) is inserted once and acted on once;
- ``telegram_reply``: the bot's answer to an update, an outbox row written in the same transaction (one per
  update: UNIQUE) and sent after the commit, ``pending → sending → sent | pending (retry) | failed``;
- ``telegram_poll_state``: the ``getUpdates`` offset of the polling mode, so a restarted poller continues
  where the last one committed.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db

UPDATE_OUTCOMES = ("linked", "refused", "ignored")
REPLY_STATES = ("pending", "sending", "sent", "failed")
UPDATE_SOURCES = ("webhook", "polling")


def _quoted(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


class TelegramLinkToken(db.Model):
    __tablename__ = "telegram_link_token"
    __table_args__ = (
        sa.CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        sa.CheckConstraint("(used_at IS NULL) = (used_chat_id IS NULL)", name="used_with_chat"),
        # one live (unused) token per user: a second "connect" replaces the first
        sa.Index("uq_telegram_link_token_unused", "user_id", unique=True,
                 sqlite_where=sa.text("used_at IS NULL"), postgresql_where=sa.text("used_at IS NULL")),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    #: sha256 hex of the token; the token itself is shown once, in the deep link
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: the chat that used it (Telegram's numeric id, as text)
    used_chat_id: so.Mapped[str | None] = so.mapped_column(sa.String(32))


class TelegramUpdate(db.Model):
    __tablename__ = "telegram_update"
    __table_args__ = (
        sa.CheckConstraint(f"outcome IN ({_quoted(UPDATE_OUTCOMES)})", name="outcome_known"),
        sa.CheckConstraint(f"source IN ({_quoted(UPDATE_SOURCES)})", name="source_known"),
    )

    #: Telegram's own id of the update: the exactly-once key
    update_id: so.Mapped[int] = so.mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    source: so.Mapped[str] = so.mapped_column(sa.String(16))
    outcome: so.Mapped[str] = so.mapped_column(sa.String(16))
    chat_id: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    #: the account the update linked (outcome ``linked``)
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class TelegramReply(db.Model):
    """The bot's answer to one update (sendMessage), sent once after the update's transaction commits."""

    __tablename__ = "telegram_reply"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_quoted(REPLY_STATES)})", name="status_known"),
        sa.CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        sa.Index("ix_telegram_reply_open", "status",
                 sqlite_where=sa.text("status IN ('pending', 'sending')"),
                 postgresql_where=sa.text("status IN ('pending', 'sending')")),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    update_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("telegram_update.update_id"), unique=True)
    chat_id: so.Mapped[str] = so.mapped_column(sa.String(32))
    #: rendered when the update was handled, in the sender's language
    text: so.Mapped[str] = so.mapped_column(sa.Text)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="pending")
    attempts: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    next_attempt_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: the API's reason, never a URL (it would hold the token)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class TelegramPollState(db.Model):
    """One row (id 1): the next ``getUpdates`` offset, i.e. the newest handled ``update_id`` + 1."""

    __tablename__ = "telegram_poll_state"
    __table_args__ = (
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint("next_offset >= 0", name="offset_nonneg"),
    )

    id: so.Mapped[int] = so.mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    next_offset: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
