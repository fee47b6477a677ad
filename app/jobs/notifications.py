"""Notification delivery jobs: one per delivery id, and the sweeper that re-drives pending ones.

A job commits its claim before talking to the channel and records the outcome
in a second transaction, so no transaction stays open during the SMTP or HTTP
call and no two workers send the same delivery (see app.notifications.outbox).
"""
from __future__ import annotations

from app.core.after_commit import handles
from app.extensions import db
from app.jobs import job
from app.notifications import outbox


def deliver_now(delivery_id: int) -> str:
    """Claim, send and record one delivery; ``not due`` when it is not pending (or not yet due)."""
    claimed = outbox.claim(delivery_id)
    db.session.commit()
    if claimed is None:
        return "not due"
    failure = outbox.send_claimed(claimed)
    outcome = outbox.record_outcome(delivery_id, failure)
    db.session.commit()
    return outcome


@handles("notification.deliver")
@job
def send_delivery(delivery_id: int) -> str:
    return deliver_now(delivery_id)


@job
def sweep_deliveries() -> dict[str, int]:
    """Periodic: release deliveries of crashed workers, then send every due pending one."""
    counts = {"released": outbox.release_stale(), "sent": 0, "retry": 0, "failed": 0}
    db.session.commit()
    for delivery_id in outbox.due_deliveries():
        outcome = deliver_now(delivery_id)
        if outcome in counts:
            counts[outcome] += 1
    return counts
