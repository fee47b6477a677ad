"""The ``bp`` blueprint object of :mod:`app.web.seller`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("seller", __name__, url_prefix="/seller")
