"""The ``bp`` blueprint object of :mod:`app.web.disputes`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("disputes", __name__, url_prefix="/disputes")
