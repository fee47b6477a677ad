"""The app wired to a live sandbox room."""
from __future__ import annotations

import pytest

from tests.sandboxes import PLATFORM, TOKEN


@pytest.fixture
def room_app(app_factory, room):
    return app_factory(
        ROOM_API_URL=room.url, ROOM_API_TOKEN=TOKEN, ROOM_PLATFORM_ACCOUNT=PLATFORM,
        ROOM_CONNECT_TIMEOUT=0.5, ROOM_READ_TIMEOUT=0.3,
    )


@pytest.fixture
def room_ctx(room_app):
    with room_app.app_context():
        yield room_app


@pytest.fixture
def scratch_url(database, tmp_path):
    """An empty database of the test's engine (for a migration run), removed afterwards."""
    import uuid

    from tests.ops.scratch_db import create_scratch_database, drop_scratch_database

    if database.kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"pokerpay_scratch_{uuid.uuid4().hex[:8]}"
    url = create_scratch_database(database.template_url, name)
    yield url
    drop_scratch_database(database.template_url, name)
