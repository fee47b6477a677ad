"""Running `flask ledger verify` for the ops dashboard and keeping its result.

A full verification reads every transfer, so the dashboard never runs one on
a refresh: a periodic job (and ops on demand, through the same job) stores
each result as a :class:`LedgerCheck` row and the dashboard reads the newest.
"""
from __future__ import annotations

import time

import sqlalchemy as sa

from app.core import audit
from app.core.after_commit import after_commit
from app.extensions import db
from app.ledger.verify import verify_ledger
from app.models.ledger_check import LedgerCheck

#: violations written into the stored result at most (the CLI lists them all)
DETAILS_LIMIT = 20


def run_check(*, requested_by_id: int | None = None) -> LedgerCheck:
    """Verify the ledger and store the outcome (the caller commits).

    Called with no transaction open (as in the job), the checks run in a
    snapshot of their own (see :func:`app.ledger.verify.verify_ledger`).
    """
    started = time.perf_counter()
    report = verify_ledger()
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    check = LedgerCheck(
        ok=report.ok, accounts=report.accounts, transfers=report.transfers, violations=len(report.violations),
        details="\n".join(str(v) for v in report.violations[:DETAILS_LIMIT]) or None,
        duration_ms=elapsed_ms, requested_by_id=requested_by_id,
    )
    db.session.add(check)
    db.session.flush()
    return check


def latest() -> LedgerCheck | None:
    return db.session.scalar(sa.select(LedgerCheck).order_by(LedgerCheck.id.desc()).limit(1))


def request_check(*, actor, reason: str) -> None:
    """Ops ask for a verification now: audited, run by a job after the commit."""
    audit.record("admin.ledger.verify_requested", actor=actor, target_type="ledger", target_id="verify",
                 reason=(reason or "").strip() or None)
    after_commit("ledger.verify", actor.id, job_id=f"ledger-verify-{actor.id}-{int(time.time())}")
