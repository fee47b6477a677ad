"""Fixtures for the operations tests.

``app`` here is the shared test app with :mod:`app.ops` wired in (a no-op once
``create_app`` does it itself).  ``scratch_url`` is an empty database of the
same engine as the test's, for tests that must change the schema's revision
or restore a dump without touching the shared test database.
"""
from __future__ import annotations

import uuid

import pytest

from tests.ops.scratch_db import create_scratch_database, drop_scratch_database


def with_ops(app):
    from app.ops import init_app

    init_app(app)
    return app


@pytest.fixture
def make_app(app_factory):
    """``app_factory`` plus app.ops; the first app made is the one on the test's own database."""

    def make(**overrides):
        return with_ops(app_factory(**overrides))

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def scratch_url(database, tmp_path):
    """The URL of an empty database of the test's engine, removed afterwards."""
    if database.kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"pokerpay_scratch_{uuid.uuid4().hex[:8]}"
    url = create_scratch_database(database.template_url, name)
    yield url
    drop_scratch_database(database.template_url, name)

