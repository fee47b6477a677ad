"""Proof of reserves: the public page and a user's inclusion proofs (`flask reserves publish` is
:mod:`app.reserves.cli`)."""
from app.web.reserves import routes  # noqa: F401
from app.web.reserves.blueprint import bp  # noqa: F401  (registered by create_app)
