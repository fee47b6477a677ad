"""What the invoice page's poll needs: how often it asks, and a fingerprint of what the status fragment shows.

The fragment asks for itself with the fingerprint it was rendered from
(``?v=…``); while nothing it shows has changed, the poll is answered with an
empty 204, which htmx leaves alone, instead of the whole invoice rendered again
(two CSRF tokens, a form, a QR code and some twenty translated strings).  The
countdown ticks in the browser (app.js), so an unchanged poll loses nothing.
"""
from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import current_app
from flask_babel import get_locale
from sqlalchemy import Row

from app.models.market import Deposit
from app.web.filters import seconds_left

#: seconds left to pay below which the page warns the buyer (the template shows the warning)
URGENT_SECONDS = 180
#: how often an open invoice's page asks for its status.  A change is on screen at most this long after it
#: happened plus the answer's latency, and the target is 2 s at the 99th percentile: at a 2-second interval
#: the wait alone is up to 2 s, leaving nothing for the answer; 1.5 s leaves half a second.  The unchanged
#: poll costs one query before the Flask stack (app/web/deposits/fast_poll.py), so the third more polls are cheap.
POLL_SECONDS = 1.5
#: the fragment's ``hx-trigger``: its poll, and the push process's word that it changed (app.js turns the
#: poll off while the push connection is open, and back on the moment it drops)
POLL_TRIGGER = f"every {POLL_SECONDS:g}s, pushed"


@cache
def _template_stamp() -> str:
    """The fragment's source: a release that changes it re-renders the pages already open."""
    source = Path(__file__).parents[2] / "templates" / "deposits" / "_status.html"
    return hashlib.blake2s(source.read_bytes(), digest_size=8).hexdigest()


def view_version(deposit: Deposit | Row, can_dispute: bool, *, locale: str | None = None) -> str:
    """Changes whenever the status fragment would render differently (apart from the ticking countdown).

    ``deposit``: the ORM object, or the poll's row of just these columns (``matching.glance_own``, the fast
    path's glance).  ``locale``: the language the fragment is rendered in; the request's (Babel) unless given
    (the fast path, which runs before Flask, passes the signed-in user's saved one, which is what Babel picks).
    """
    shown = (
        _template_stamp(),
        deposit.status,
        deposit.updated_at.isoformat() if deposit.updated_at else "",
        deposit.buyer_claimed_paid_at is not None,
        can_dispute,
        deposit.status == "awaiting_payment" and seconds_left(deposit.expires_at) < URGENT_SECONDS,
        locale or str(get_locale()),
    )
    return hashlib.blake2s(repr(shown).encode(), digest_size=8).hexdigest()


def push_address(deposit_id: int, version: str) -> str | None:
    """Where the page listens for its changes (app/web/push), or None when no push process is configured."""
    base = current_app.config.get("PUSH_URL")
    return f"{base}/push/deposits/{deposit_id}?v={version}" if base else None
