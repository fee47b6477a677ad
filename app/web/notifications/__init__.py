"""The notification centre: the bell's count, the list, marking read, and the choice of outside channels."""
from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

from app.web.notifications import routes  # noqa: E402,F401
