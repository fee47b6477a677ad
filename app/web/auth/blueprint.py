"""The ``bp`` blueprint object of :mod:`app.web.auth`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("auth", __name__)
