"""Fixtures of the state-machine tests: the app wired to the live providers sandbox."""
import pytest

from tests.provider_sandbox import provider_sandbox, providers, sandbox_config  # noqa: F401  (fixtures)


@pytest.fixture
def market_app(app_factory, sandbox_config):  # noqa: F811
    # Notifications the sandbox sends go nowhere (port 9): the machine delivers them itself, when it chooses.
    return app_factory(**{**sandbox_config, "PUBLIC_BASE_URL": "http://127.0.0.1:9"})


@pytest.fixture
def room_server(_room_server):
    """(server url, the switch that routes it to a room app): the machine makes a fresh room per example."""
    running, current = _room_server
    return running.url, current


@pytest.fixture
def room_app(app_factory, room_server):
    from tests.sandboxes import PLATFORM, TOKEN

    url, _current = room_server
    return app_factory(ROOM_API_URL=url, ROOM_API_TOKEN=TOKEN, ROOM_PLATFORM_ACCOUNT=PLATFORM,
                       ROOM_CONNECT_TIMEOUT=0.5, ROOM_READ_TIMEOUT=0.3)
