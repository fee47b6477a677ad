"""Telegram: the Bot API's ``sendMessage`` (``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_API_URL`` from the config).

The token is part of the request path, so nothing here ever logs, stores or
raises with the URL: errors carry only the API's own description or an
exception's type name.  The Bot API has no idempotency key; a resend after a
crash between the send and recording it would show twice (the documented gap).
"""
from __future__ import annotations

from flask import current_app

from app.notifications import telegram_api
from app.notifications.channel import DeliveryFailed, Message


class TelegramChannel:
    name = "telegram"

    def available(self) -> bool:
        return bool(current_app.config.get("TELEGRAM_BOT_TOKEN"))

    def send(self, address: str, message: Message) -> None:
        payload = {"chat_id": address, "text": f"{message.title}\n\n{message.body}\n{message.link}",
                   "disable_web_page_preview": True}
        try:
            telegram_api.call("sendMessage", payload)
        except telegram_api.BotApiError as exc:
            raise DeliveryFailed(exc.description, permanent=exc.permanent) from None
