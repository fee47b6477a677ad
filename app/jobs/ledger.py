"""Ledger jobs: the backstop that voids holds past their timeout."""
from __future__ import annotations

from app import ledger
from app.extensions import db
from app.jobs import job


@job
def void_expired_holds() -> int:
    count = ledger.void_expired_holds()
    db.session.commit()
    return count
