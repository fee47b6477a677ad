"""The wallet: balances, room accounts, deposits from the room and cash-outs."""
from flask import Blueprint

bp = Blueprint("wallet", __name__, url_prefix="/wallet")

from app.web.wallet import routes  # noqa: E402,F401
