"""The ``bp`` blueprint object of :mod:`app.web.webhooks`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
