"""Rate-limit keys and limits shared by views.

Views that make live calls to a provider with credentials the user typed
(checking an API form) are limited per signed-in user, so one account cannot
use the platform to probe a provider, whatever addresses it comes from.
"""
from __future__ import annotations

from flask import current_app
from flask_limiter.util import get_remote_address
from flask_login import current_user


def user_or_address() -> str:
    """The signed-in user's id, or the client address for anonymous requests."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"addr:{get_remote_address()}"


def credential_check_limit() -> str:
    """How often one user may submit credentials that are checked live (``CREDENTIAL_CHECK_RATE_LIMIT``)."""
    return current_app.config.get("CREDENTIAL_CHECK_RATE_LIMIT", "10 per minute")


def telegram_link_limit() -> str:
    """How many "connect Telegram" links one user may make (``TELEGRAM_LINK_RATE_LIMIT``): each is a new token."""
    return current_app.config.get("TELEGRAM_LINK_RATE_LIMIT", "5 per minute;20 per hour")
