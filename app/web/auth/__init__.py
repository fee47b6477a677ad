"""Sign-up, sign-in (with TOTP), sign-out and account settings."""
from app.web.auth import routes  # noqa: F401
from app.web.auth.blueprint import bp  # noqa: F401  (registered by create_app)
