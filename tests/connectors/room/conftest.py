"""A live sandbox room on a free loopback port for each test, and a connector pointed at it.

Timeouts and backoff are tiny so that the fault tests stay fast.
"""
from __future__ import annotations

import pytest

from app.connectors.room import SandboxRoomConnector
from tests.sandboxes import PLATFORM, TOKEN

#: the connector's (connect, read) timeout in these tests; hangs are set a little longer
CLIENT_TIMEOUT = (0.5, 0.25)


@pytest.fixture
def connector(room):
    client = SandboxRoomConnector(room.url, TOKEN, timeout=CLIENT_TIMEOUT, platform_account=PLATFORM,
                                  retries=2, backoff=0.01)
    yield client
    client.session.close()
