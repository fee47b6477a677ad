"""What the bot does with an update from Telegram, exactly once per ``update_id``, however it arrived.

Updates come by webhook (``POST /telegram/webhook``) or by polling (``getUpdates``, the offset kept in
``telegram_poll_state``); both end in :func:`accept`.  Its first statement inserts the update's id (INSERT
… ON CONFLICT DO NOTHING): a second delivery of the same update — a webhook retry, a poll repeated after a
crash, both modes at once — inserts nothing and does nothing.  For a new update, in the same transaction:
``/start <token>`` from a private chat redeems the token (:func:`app.notifications.telegram_link.redeem`), and
the bot's answer is queued (:mod:`app.notifications.telegram_replies`), to be sent after the commit.

Only ``message`` updates from private chats are acted on: a group would see its members' notifications.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from app.database import utcnow
from app.extensions import db
from app.models.telegram import TelegramPollState, TelegramUpdate
from app.notifications import telegram_link, telegram_replies

#: "/start TOKEN" (a deep link's Start), also "/start@bot_name TOKEN"; the token as start_link makes it
_START = re.compile(r"^/start(?:@[A-Za-z0-9_]{1,64})?(?:\s+(\S{1,512}))?\s*$")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_ID = 2**63 - 1


class MalformedUpdate(ValueError):
    """Not an Update object as the Bot API documents it."""


@dataclass(frozen=True)
class Accepted:
    update_id: int
    #: False: this update was handled before (a duplicate delivery); nothing was done
    new: bool
    #: the queued answer, to send after the commit
    reply_id: int | None = None


def update_id_of(update) -> int:
    if not isinstance(update, dict):
        raise MalformedUpdate("an update is a JSON object")
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not 0 <= update_id <= MAX_ID:
        raise MalformedUpdate("update_id must be a non-negative integer")
    return update_id


def _insert_once(update_id: int, source: str) -> bool:
    table = TelegramUpdate.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (insert(table).values(update_id=update_id, source=source, outcome="ignored", received_at=utcnow())
                 .on_conflict_do_nothing(index_elements=["update_id"]).returning(table.c.update_id))
    return db.session.execute(statement).scalar() is not None


def _chat_of(message: dict) -> tuple[str, str] | None:
    chat = message.get("chat")
    if not isinstance(chat, dict):
        return None
    chat_id = chat.get("id")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool) or abs(chat_id) > MAX_ID:
        return None
    return str(chat_id), str(chat.get("type") or "")


def _language_of(message: dict) -> str:
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    code = str(sender.get("language_code") or "")
    return "en" if code.lower().startswith("en") else "ru"


def _answer(outcome: str) -> str:
    """The bot's words for each outcome (rendered in the sender's language by the caller)."""
    how = _("Open Notification channels in PokerPay and press “Connect Telegram” for a new link.")
    return {
        "linked": _("Done: PokerPay notifications will come to this chat. To stop them, press “Disconnect” "
                    "in Notification channels."),
        "used": _("This link has already been used.") + " " + how,
        "expired": _("This link has expired.") + " " + how,
        "unknown": _("This link is not valid.") + " " + how,
        "hello": _("Hello! To get PokerPay notifications here, open Notification channels in PokerPay and press "
                   "“Connect Telegram”."),
        "group": _("Notifications can only go to a private chat with the bot, not to a group."),
    }[outcome]


def accept(update, source: str) -> Accepted:
    """Record ``update`` once and act on it (caller commits); MalformedUpdate writes nothing."""
    update_id = update_id_of(update)
    if not _insert_once(update_id, source):
        return Accepted(update_id, new=False)
    message = update.get("message")
    chat = _chat_of(message) if isinstance(message, dict) else None
    text = message.get("text") if chat else None
    match = _START.match(text) if isinstance(text, str) else None
    if chat is None or match is None:
        return Accepted(update_id, new=True)  # not for us (another kind of update, or chatter): no answer
    chat_id, chat_type = chat
    token = match.group(1)
    user_id = None
    if chat_type != "private":
        outcome, answer = "refused", "group"
    elif token is None:
        outcome, answer = "ignored", "hello"
    elif not _TOKEN.fullmatch(token):
        outcome, answer = "refused", "unknown"
    else:
        result = telegram_link.redeem(token, chat_id)
        if isinstance(result, int):
            outcome, answer, user_id = "linked", "linked", result
        else:
            outcome, answer = "refused", result
    db.session.execute(sa.update(TelegramUpdate.__table__).where(TelegramUpdate.update_id == update_id)
                       .values(outcome=outcome, chat_id=chat_id, user_id=user_id))
    with force_locale(_language_of(message)):
        reply_text = _answer(answer)
    return Accepted(update_id, new=True, reply_id=telegram_replies.add(update_id, chat_id, reply_text))


def accept_batch(updates, source: str) -> list[Accepted]:
    """A page of ``getUpdates``: each accepted once, the poll offset moved past the last (caller commits).

    An update without a usable ``update_id`` is skipped: Telegram numbers every update, so it cannot occur
    from the real API, and acting on it could not be made exactly-once.
    """
    if not isinstance(updates, list):
        raise MalformedUpdate("getUpdates gives a list")
    accepted = []
    for update in updates:
        try:
            accepted.append(accept(update, source))
        except MalformedUpdate:
            continue
    if accepted:
        advance_offset(max(a.update_id for a in accepted) + 1)
    return accepted


def next_offset() -> int:
    """The ``offset`` of the next ``getUpdates``: updates below it are handled (and so confirmed to Telegram)."""
    return db.session.scalar(sa.select(TelegramPollState.next_offset).where(TelegramPollState.id == 1)) or 0


def advance_offset(offset: int) -> None:
    """Move the stored offset forward to ``offset`` (never back), in the transaction that handled the updates."""
    table = TelegramPollState.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = utcnow()
    db.session.execute(insert(table).values(id=1, next_offset=offset, updated_at=now)
                       .on_conflict_do_nothing(index_elements=["id"]))
    db.session.execute(sa.update(table).where(table.c.id == 1, table.c.next_offset < offset)
                       .values(next_offset=offset, updated_at=now))
