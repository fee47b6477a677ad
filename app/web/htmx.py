"""Small helpers for HTMX requests."""
from __future__ import annotations

from flask import render_template, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render_page_or_fragment(page: str, fragment: str, **context) -> str:
    """A full page for a normal request, just the fragment for an HTMX one."""
    return render_template(fragment if is_htmx() else page, **context)
