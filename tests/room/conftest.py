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


