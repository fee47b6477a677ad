"""The ``bp`` blueprint object of :mod:`app.web.main`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("main", __name__)
