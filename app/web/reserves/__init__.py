"""Proof of reserves: the public page, a user's inclusion proofs, and `flask reserves publish`."""
from flask import Blueprint

bp = Blueprint("reserves", __name__, url_prefix="/reserves")

from app.web.reserves import routes  # noqa: E402,F401
