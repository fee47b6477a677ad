"""Fixtures for the operations tests.

``app`` here is the shared test app with :mod:`app.observability` wired in (a no-op once
``create_app`` does it itself).  ``scratch_url`` (tests/conftest.py) gives an
empty database of the test's engine.
"""
from __future__ import annotations

import pytest


def with_ops(app):
    from app.observability import init_app

    init_app(app)
    return app


@pytest.fixture
def make_app(app_factory):
    """``app_factory`` plus app.observability; the first app made is the one on the test's own database."""

    def make(**overrides):
        return with_ops(app_factory(**overrides))

    return make


@pytest.fixture
def app(make_app):
    return make_app()



