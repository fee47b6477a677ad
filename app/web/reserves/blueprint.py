"""The ``bp`` blueprint object of :mod:`app.web.reserves`, apart from its routes so they can import it."""
from flask import Blueprint

bp = Blueprint("reserves", __name__, url_prefix="/reserves")
