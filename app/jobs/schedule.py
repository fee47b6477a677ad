"""Periodic jobs: pollers and the sweepers that re-drive unfinished work.

Each entry is (dotted function path, interval in seconds).  `python worker.py
cron` registers them with RQ's cron scheduler.
"""
from __future__ import annotations

PERIODIC_JOBS: list[tuple[str, int]] = [
    ("app.jobs.room.poll_room_feed", 5),
    ("app.jobs.room.sweep_cash_outs", 30),
    ("app.jobs.room.reconcile_room", 600),
    ("app.jobs.ledger.void_expired_holds", 60),
    ("app.jobs.form_health.probe_open_circuits", 60),
]
PERIODIC_JOBS.append(("app.jobs.invoices.sweep_invoices", 10))
PERIODIC_JOBS.append(("app.jobs.notifications.sweep_deliveries", 30))
PERIODIC_JOBS.append(("app.jobs.ops.verify_ledger_job", 900))
PERIODIC_JOBS.append(("app.jobs.invoices.auto_resolve_disputes", 60))
PERIODIC_JOBS.append(("app.jobs.room.expire_room_verifications", 600))
PERIODIC_JOBS.append(("app.jobs.invoices.recheck_settled_labels", 900))
PERIODIC_JOBS.append(("app.jobs.telegram.poll_updates", 3))
PERIODIC_JOBS.append(("app.jobs.telegram.sweep_replies", 30))
PERIODIC_JOBS.append(("app.jobs.disputes.escalate_overdue_disputes", 60))
