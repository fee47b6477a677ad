"""Buying dollars: the deposit form, the live "finding a seller" page and the invoice page."""
from app.web.deposits import routes  # noqa: F401
from app.web.deposits.blueprint import bp  # noqa: F401  (registered by create_app)
