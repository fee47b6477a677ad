"""Small helpers for HTMX requests."""
from __future__ import annotations

from flask import request


def is_htmx() -> bool:
    """An HTMX request for a fragment.

    A boosted link or form (``hx-boost`` on <body>) is an HTMX request too, but
    it is a navigation: it wants the whole page, which htmx swaps into <body>.
    """
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def varies_on_htmx(view):
    """Mark a view whose answer depends on ``HX-Request`` (fragment or page), so caches keep both apart."""
    from functools import wraps

    from flask import make_response

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        response.vary.add("HX-Request")
        return response

    return wrapper
