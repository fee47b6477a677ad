"""Fixtures of the state-machine tests: the app wired to the live providers sandbox."""
import pytest

from tests.provider_sandbox import provider_sandbox, providers, sandbox_config  # noqa: F401  (fixtures)


@pytest.fixture
def market_app(app_factory, sandbox_config):  # noqa: F811
    # Notifications the sandbox sends go nowhere (port 9): the machine delivers them itself, when it chooses.
    return app_factory(**{**sandbox_config, "PUBLIC_BASE_URL": "http://127.0.0.1:9"})
