"""The fuzz suite shares the security suite's world (an owner of one of everything, staff)."""
from tests.security.conftest import (  # noqa: F401  (fixtures)
    provider_sandbox,
    providers,
    sandbox_config,
    sec_app,
)
