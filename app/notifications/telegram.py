"""Telegram: the Bot API's ``sendMessage`` (``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_API_URL`` from the config).

The token is part of the request path, so nothing here ever logs, stores or
raises with the URL: errors carry only the API's own description or an
exception's type name.  The Bot API has no idempotency key; a resend after a
crash between the send and recording it would show twice (the documented gap).
"""
from __future__ import annotations

import requests
from flask import current_app

from app.notifications.channel import DeliveryFailed, Message


class TelegramChannel:
    name = "telegram"

    def available(self) -> bool:
        return bool(current_app.config.get("TELEGRAM_BOT_TOKEN"))

    def send(self, address: str, message: Message) -> None:
        config = current_app.config
        url = f"{config['TELEGRAM_API_URL'].rstrip('/')}/bot{config['TELEGRAM_BOT_TOKEN']}/sendMessage"
        payload = {"chat_id": address, "text": f"{message.title}\n\n{message.body}\n{message.link}",
                   "disable_web_page_preview": True}
        try:
            response = requests.post(url, json=payload, timeout=float(config["TELEGRAM_TIMEOUT"]))
        except requests.RequestException as exc:
            raise DeliveryFailed(f"Telegram unreachable ({type(exc).__name__})") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 200 and answer.get("ok") is True:
            return
        description = str(answer.get("description") or f"HTTP {response.status_code}")[:200]
        # 400 (chat not found) and 403 (the user blocked the bot) will not get better by themselves.
        raise DeliveryFailed(f"Telegram: {description}", permanent=response.status_code in (400, 403))
