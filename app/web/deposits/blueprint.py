"""The ``bp`` blueprint object of :mod:`app.web.deposits`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("deposits", __name__, url_prefix="/buy")
