"""Linking a Telegram chat to an account by a one-time deep link, and unlinking it.

The settings page asks :func:`start_link` for ``https://t.me/<bot>?start=<token>``; the person opens it and
presses Start; Telegram sends the bot ``/start <token>`` from their chat, and :func:`redeem` (called by
:mod:`app.notifications.telegram_updates` for that update) links that chat to the token's owner.

Why a chat cannot be linked to the wrong account: the token is 192 random bits, shown only in the owner's
own page (only its SHA-256 is stored), valid for ``TELEGRAM_LINK_TTL`` seconds, and used at most once by a
compare-and-set — a link forwarded or seen later links nothing.  A user has one live token at a time: a new
one replaces the old under the user's row lock (:func:`app.core.user_lock.lock_owner`), and a
partial UNIQUE index refuses a second one should anything skip that.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.core import audit, user_lock
from app.database import utcnow
from app.errors import DomainError
from app.extensions import db
from app.models.notification import NotificationSettings
from app.models.telegram import TelegramLinkToken
from app.models.user import User
from app.notifications import telegram_api

#: 24 bytes → 32 characters of A-Z a-z 0-9 _ -: what a deep link's start parameter may hold (at most 64)
TOKEN_BYTES = 24


class TelegramUnavailable(DomainError):
    """The bot is not set up, or Telegram does not answer: no link can be made now."""


@dataclass(frozen=True)
class DeepLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkState:
    #: the chat notifications go to, or None
    chat_id: str | None
    #: an unused, unexpired link exists (the page keeps watching for the Start)
    waiting: bool


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_link(user) -> DeepLink:
    """A fresh one-time deep link for ``user`` (the previous unused one stops working); caller commits."""
    if not telegram_api.configured():
        raise TelegramUnavailable(str(_l("Telegram notifications are not set up on this platform.")))
    try:
        username = telegram_api.bot_username()
    except telegram_api.BotApiError:
        raise TelegramUnavailable(str(_l("Telegram does not answer right now. Try again in a minute."))) from None
    user_lock.lock_owner(user.id)
    now = utcnow()
    db.session.execute(sa.delete(TelegramLinkToken).where(
        TelegramLinkToken.user_id == user.id, TelegramLinkToken.used_at.is_(None)))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + timedelta(seconds=int(current_app.config.get("TELEGRAM_LINK_TTL", 900)))
    db.session.add(TelegramLinkToken(user_id=user.id, token_hash=token_hash(token), created_at=now,
                                     expires_at=expires_at))
    db.session.flush()
    audit.record("notifications.telegram_link_started", actor=user, target=user)
    base = current_app.config.get("TELEGRAM_LINK_BASE_URL", "https://t.me").rstrip("/")
    return DeepLink(f"{base}/{username}?start={token}", expires_at)


def state_of(user_id: int, now: datetime | None = None) -> LinkState:
    now = now or utcnow()
    settings = db.session.get(NotificationSettings, user_id)
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(TelegramLinkToken).where(
        TelegramLinkToken.user_id == user_id, TelegramLinkToken.used_at.is_(None),
        TelegramLinkToken.expires_at > now)) or 0
    return LinkState(chat_id=settings.telegram_chat_id if settings else None, waiting=bool(waiting))


def redeem(token: str, chat_id: str, now: datetime | None = None) -> int | str:
    """Use ``token`` for ``chat_id`` once: the owner's user id, or why not (``unknown``, ``used``, ``expired``)."""
    now = now or utcnow()
    digest = token_hash(token)
    table = TelegramLinkToken.__table__
    owner = db.session.execute(
        sa.update(table).where(table.c.token_hash == digest, table.c.used_at.is_(None), table.c.expires_at > now)
        .values(used_at=now, used_chat_id=chat_id).returning(table.c.user_id)
    ).scalar()
    if owner is not None:
        _link_chat(owner, chat_id, now)
        return owner
    row = db.session.execute(sa.select(table.c.used_at).where(table.c.token_hash == digest)).first()
    if row is None:
        return "unknown"
    return "used" if row.used_at is not None else "expired"


def _link_chat(user_id: int, chat_id: str, now: datetime) -> None:
    settings = db.session.get(NotificationSettings, user_id)
    if settings is None:
        settings = NotificationSettings(user_id=user_id, email_enabled=False)
        db.session.add(settings)
    settings.telegram_chat_id = chat_id
    settings.telegram_enabled = True
    settings.updated_at = now
    db.session.flush()
    audit.record("notifications.telegram_linked", actor=db.session.get(User, user_id),
                 target_type="user", target_id=user_id, chat_id=chat_id)


def unlink(user) -> bool:
    """Stop sending to the linked chat and forget it (and any unused link); False when nothing was linked."""
    settings = db.session.get(NotificationSettings, user.id)
    db.session.execute(sa.delete(TelegramLinkToken).where(
        TelegramLinkToken.user_id == user.id, TelegramLinkToken.used_at.is_(None)))
    if settings is None or settings.telegram_chat_id is None:
        db.session.flush()
        return False
    chat_id = settings.telegram_chat_id
    settings.telegram_chat_id = None
    settings.telegram_enabled = False
    settings.updated_at = utcnow()
    db.session.flush()
    audit.record("notifications.telegram_unlinked", actor=user, target=user, chat_id=chat_id)
    return True
