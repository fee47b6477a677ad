"""The seller's area: the dashboard and API forms (payment-provider credentials)."""
from app.web.seller import dashboard_routes, forms_routes, withdrawal_routes  # noqa: F401
from app.web.seller.blueprint import bp  # noqa: F401  (registered by create_app)
