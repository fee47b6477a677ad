"""Jinja filters and globals beyond money formatting (which lives in app.money)."""
from __future__ import annotations

import functools
from datetime import datetime

import segno
from flask import Flask
from flask_babel import format_datetime
from markupsafe import Markup

from app.database import utcnow
from app.money import format_usd
from app.web.labels import TEMPLATE_GLOBALS


def usd_signed(cents: int) -> str:
    from flask_babel import get_locale

    text = format_usd(abs(cents), str(get_locale() or "ru"))
    return ("+" if cents > 0 else "−" if cents < 0 else "") + text


def datetime_short(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_datetime(value, "short")


def seconds_left(moment: datetime | None) -> int:
    """Whole seconds from the server's now until ``moment`` (never negative)."""
    if moment is None:
        return 0
    return max(0, int((moment - utcnow()).total_seconds()))


def qr_svg(payload: str) -> Markup:
    """An SBP QR code as inline SVG, rendered on the server (no script, CSP-safe)."""
    return Markup(_qr_svg(payload))  # noqa: S704


@functools.lru_cache(maxsize=512)
def _qr_svg(payload: str) -> str:
    # ~7 ms of segno per call, and the invoice fragment is polled every 2 s while it waits:
    # an invoice's payload never changes, so each worker draws it once.
    # segno writes the SVG itself; the payload is only encoded as modules, never echoed as markup.
    return segno.make(payload, error="m").svg_inline(scale=4, dark="#111", light="#fff")


def rub_plain(kopecks: int) -> str:
    """Rubles as a person types them: "1000" or "1000.50" (for copy buttons and pre-filled forms)."""
    rubles, rest = divmod(int(kopecks), 100)
    return f"{rubles}" if rest == 0 else f"{rubles}.{rest:02d}"


def register(app: Flask) -> None:
    app.add_template_filter(usd_signed)
    app.add_template_filter(datetime_short)
    app.add_template_filter(seconds_left)
    app.add_template_filter(qr_svg)
    app.add_template_filter(rub_plain)
    app.add_template_filter(rub_plain, "usd_plain")  # cents are written the same way: "25" or "25.50"
    for label in TEMPLATE_GLOBALS:
        app.add_template_global(label)
    app.add_template_global(dispute_file_max_mb)


def dispute_file_max_mb() -> str:
    """The largest evidence file, in megabytes as the form's hint says it ("5")."""
    from app.market.dispute_files import max_megabytes

    return max_megabytes()
