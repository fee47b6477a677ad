"""The seller's area: the dashboard and API forms (payment-provider credentials)."""
from flask import Blueprint

bp = Blueprint("seller", __name__, url_prefix="/seller")

from app.web.seller import dashboard_routes, forms_routes, withdrawal_routes  # noqa: E402,F401
