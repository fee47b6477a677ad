"""The ``bp`` blueprint object of :mod:`app.web.telegram_webhook`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("telegram_hook", __name__, url_prefix="/telegram")
