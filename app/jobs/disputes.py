"""Dispute jobs: the sweeper that escalates a dispute to ops when the seller did not answer in time.

Periodic (app/jobs/schedule.py) and idempotent: each case moves
``awaiting_seller → escalated`` by compare-and-set in its own short transaction, so
two sweepers, a crash half-way or a run repeated a second later escalate each case
once; a seller's answer that lands first simply wins.
"""
from __future__ import annotations

from app.extensions import db
from app.jobs import job


def escalate_overdue_disputes_once(limit: int | None = None) -> int:
    """Escalate every overdue case (at most ``limit``); returns how many this run escalated."""
    from app.market import dispute_threads

    ids = dispute_threads.overdue(limit=limit or dispute_threads.ESCALATION_BATCH)
    db.session.rollback()
    escalated = 0
    for case_id in ids:
        if dispute_threads.escalate(case_id):
            escalated += 1
        db.session.commit()
    return escalated


@job
def escalate_overdue_disputes() -> int:
    return escalate_overdue_disputes_once()
