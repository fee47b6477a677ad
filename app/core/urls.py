"""Absolute URLs of this app as the outside world reaches it (PUBLIC_BASE_URL).

Works in jobs and the CLI as well as in requests: providers need our
notification and return URLs whoever creates the invoice.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import IntegerConverter


def public_url(endpoint: str, **values) -> str:
    parts = urlsplit(current_app.config["PUBLIC_BASE_URL"].rstrip("/"))
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)


class RowIdConverter(IntegerConverter):
    """``<int:…>`` limited to what a BIGINT primary key can hold: a larger number is a 404, not a
    database overflow (a 500) — ids in URLs are typed by anyone."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)
