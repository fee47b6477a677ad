"""The wallet: balances, room accounts, deposits from the room and cash-outs."""
from app.web.wallet import routes  # noqa: F401
from app.web.wallet.blueprint import bp  # noqa: F401  (registered by create_app)
