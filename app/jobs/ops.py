"""Ops jobs: the ledger verification whose result the dashboard shows."""
from __future__ import annotations

from app.core.after_commit import handles
from app.extensions import db
from app.jobs import job


@handles("ledger.verify")
@job
def verify_ledger_job(requested_by_id: int | None = None) -> bool:
    from app.operations import ledger_checks

    check = ledger_checks.run_check(requested_by_id=requested_by_id)
    db.session.commit()
    return check.ok
