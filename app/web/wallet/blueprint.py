"""The ``bp`` blueprint object of :mod:`app.web.wallet`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("wallet", __name__, url_prefix="/wallet")
