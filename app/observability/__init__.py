"""Running PokerPay in production: metrics, `flask doctor`, logs.

``create_app`` calls :func:`init_app` once; calling it again on the same app
does nothing (tests may call it before the factory does).
"""
from __future__ import annotations

from flask import Flask

_INITIALISED = "pokerpay_ops"


def init_app(app: Flask) -> None:
    """The metrics registry with its collectors and timing hooks, and the ``flask doctor`` command."""
    if app.extensions.get(_INITIALISED):
        return
    app.extensions[_INITIALISED] = True
    from app.observability import (
        collectors,  # noqa: F401  (registers the built-in collectors)
        doctor,
        metrics,
    )

    metrics.install(app)
    doctor.init_app(app)
