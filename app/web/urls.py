"""Absolute URLs of this app as the outside world reaches it (PUBLIC_BASE_URL).

Works in jobs and the CLI as well as in requests: providers need our
notification and return URLs whoever creates the invoice.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    parts = urlsplit(current_app.config["PUBLIC_BASE_URL"].rstrip("/"))
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)
