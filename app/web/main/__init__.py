"""The home page, language switch and health endpoints."""
from app.web.main import routes  # noqa: F401
from app.web.main.blueprint import bp  # noqa: F401  (registered by create_app)
