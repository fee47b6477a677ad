"""The ``bp`` blueprint object of :mod:`app.web.notifications`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
