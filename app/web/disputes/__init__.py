"""A dispute's conversation for its two parties: the buyer and the seller of the invoice (ops use /admin/)."""
from flask import Blueprint

bp = Blueprint("disputes", __name__, url_prefix="/disputes")

from app.web.disputes import routes  # noqa: E402,F401
