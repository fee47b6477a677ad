"""The live providers sandbox and the app pointed at it (see tests/provider_sandbox.py)."""
from tests.provider_sandbox import provider_sandbox, providers, sandbox_config, seller_app, seller_ctx  # noqa: F401
