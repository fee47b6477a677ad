"""Every channel this platform knows, by name: the one place a new channel is added.

Above the channel modules (they know only :mod:`app.notifications.channel`'s
interface), below the code that records and sends (:mod:`~app.notifications.inbox`,
:mod:`~app.notifications.outbox`).
"""
from __future__ import annotations

from app.notifications.channel import Channel
from app.notifications.email import EmailChannel
from app.notifications.telegram import TelegramChannel


def channels() -> dict[str, Channel]:
    return {channel.name: channel for channel in (EmailChannel(), TelegramChannel())}
