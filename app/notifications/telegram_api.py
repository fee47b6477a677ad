"""The Telegram Bot API over HTTP: ``<TELEGRAM_API_URL>/bot<token>/<method>``, answers ``{"ok": …, "result": …}``.

The token is part of every URL, so nothing here logs, stores or raises with a URL: errors carry only the
API's own ``description`` and ``error_code``, or an exception's type name when the API was unreachable.
"""
from __future__ import annotations

from typing import Any

import requests
from flask import current_app


class BotApiError(Exception):
    """The API refused the call (``error_code`` is its HTTP-like code) or could not be reached (``None``)."""

    def __init__(self, description: str, error_code: int | None = None) -> None:
        super().__init__(description)
        self.description = description[:200]
        self.error_code = error_code

    @property
    def permanent(self) -> bool:
        """400 (chat not found, bad request) and 403 (the user blocked the bot) do not get better by retrying."""
        return self.error_code in (400, 403)


def configured() -> bool:
    return bool(current_app.config.get("TELEGRAM_BOT_TOKEN"))


def call(method: str, payload: dict | None = None, *, read_timeout: float | None = None) -> Any:
    """POST ``payload`` as JSON to ``method``; the ``result`` of an ``ok`` answer, else :class:`BotApiError`."""
    config = current_app.config
    url = f"{config['TELEGRAM_API_URL'].rstrip('/')}/bot{config['TELEGRAM_BOT_TOKEN']}/{method}"
    timeout = float(config.get("TELEGRAM_TIMEOUT", 10))
    try:
        response = requests.post(url, json=payload or {}, timeout=(min(timeout, 3.05), read_timeout or timeout))
    except requests.RequestException as exc:
        raise BotApiError(f"Telegram unreachable ({type(exc).__name__})") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if response.status_code == 200 and answer.get("ok") is True:
        return answer.get("result")
    description = str(answer.get("description") or f"HTTP {response.status_code}")
    code = answer.get("error_code") if isinstance(answer.get("error_code"), int) else response.status_code
    raise BotApiError(f"Telegram: {description}", code)


#: bot username by sha256 of the token: ``getMe`` is asked once per process and token (a cache, not state:
#: another process asks for itself)
_usernames: dict[str, str] = {}


def bot_username() -> str:
    """``TELEGRAM_BOT_USERNAME``, else the bot's own answer to ``getMe`` (read once); BotApiError if unknown."""
    import hashlib

    configured_name = (current_app.config.get("TELEGRAM_BOT_USERNAME") or "").strip().lstrip("@")
    if configured_name:
        return configured_name
    key = hashlib.sha256(current_app.config["TELEGRAM_BOT_TOKEN"].encode()).hexdigest()
    if key not in _usernames:
        me = call("getMe")
        username = me.get("username") if isinstance(me, dict) else None
        if not isinstance(username, str) or not username:
            raise BotApiError("Telegram: getMe gave no username")
        _usernames[key] = username
    return _usernames[key]
