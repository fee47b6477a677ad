"""The channel interface: a rendered message, an address, one send, and how it can fail.

A channel is configured from the app config only (hosts, tokens); it is
"available" when that configuration is present.  ``send`` either returns
(delivered to the channel's server) or raises :class:`DeliveryFailed` with a
reason safe to store and log — never a password, a token or a URL containing one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    #: one line: the e-mail subject, the bold first line of a chat message
    title: str
    body: str
    #: absolute URL of the page the notification is about
    link: str
    #: stable per delivery: where the channel can deduplicate on it, a resend is dropped there
    dedup_key: str


class DeliveryFailed(Exception):
    """The channel did not take the message.  ``permanent``: retrying cannot help (bad address)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:255]
        self.permanent = permanent


class Channel(Protocol):
    #: the value stored in ``notification_delivery.channel``
    name: str

    def available(self) -> bool:
        """Configured on this platform (the operator set it up)."""

    def send(self, address: str, message: Message) -> None:
        """Deliver ``message`` to ``address`` or raise :class:`DeliveryFailed`."""

