"""Buying dollars: the deposit form, the live "finding a seller" page and the invoice page."""
from flask import Blueprint

bp = Blueprint("deposits", __name__, url_prefix="/buy")

from app.web.deposits import routes  # noqa: E402,F401
