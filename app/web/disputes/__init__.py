"""A dispute's conversation for its two parties: the buyer and the seller of the invoice (ops use /admin/)."""
from app.web.disputes import routes  # noqa: F401
from app.web.disputes.blueprint import bp  # noqa: F401  (registered by create_app)
