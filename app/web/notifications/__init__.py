"""The notification centre: the bell's count, the list, marking read, and the choice of outside channels."""
from app.web.notifications import routes  # noqa: F401
from app.web.notifications.blueprint import bp  # noqa: F401  (registered by create_app)
