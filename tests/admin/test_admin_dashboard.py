"""The ops dashboard: each figure from real records, charts as SVG, a bounded number of queries, the ledger check."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy import event

from app import ledger
from app.database import utcnow
from app.extensions import db
from app.market import invoices, matching
from app.models import User
from app.models.ledger_check import LedgerCheck
from app.models.market import Deposit
from app.models.room import RoomTransfer
from app.operations import ops_dashboard
from app.room import cashouts
from app.states import DEPOSIT
from tests.admin.conftest import audit_events, make_deposit, make_seller, post_form, quick_user, sign_in


def _invoiced(buyer, rubles_kopecks: int) -> Deposit:
    """A deposit matched to the queue and awaiting payment (the provider call itself is not what this tests)."""
    deposit = make_deposit(buyer, rubles_kopecks)
    assert matching.reserve(deposit.id, set()).reservation is not None
    DEPOSIT.transition(Deposit, deposit.id, "awaiting_payment", expect="matching")
    db.session.commit()
    return db.session.get(Deposit, deposit.id)


def _count_queries(fn) -> int:
    statements = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def _everything():
    ops_dashboard.figures()
    ops_dashboard.volume_per_hour()
    ops_dashboard.invoice_outcomes()


def test_figures_charts_and_query_count(app, staff):
    """Does each figure count what it says, the charts show it, and the query count stay flat as data grows?"""
    with app.app_context():
        seller, account, _form, request = make_seller("fish@example.com")
        buyer = db.session.get(User, staff.user.id)
        settled = _invoiced(buyer, 1_000_00)
        assert invoices.settle_paid(settled.id, settled.amount_kopecks, source="test") == "settled"
        waiting = _invoiced(buyer, 500_00)
        disputed = _invoiced(buyer, 300_00)
        invoices.dispute(db.session.get(Deposit, disputed.id), "buyer says paid")
        db.session.add(RoomTransfer(room_transfer_id="rt-1", direction="in", counterparty="stranger", amount=12_34,
                                    occurred_at=utcnow(), source="manual", status="unmatched"))
        cashouts.request_cash_out(seller, account.id, 5_00, uuid.uuid4().hex)
        db.session.commit()

        f = ops_dashboard.figures()
        settled = db.session.get(Deposit, settled.id)
        assert (f.volume_today_cents, f.volume_today_kopecks, f.settled_today) == (settled.usd_cents, 1_000_00, 1)
        assert (f.volume_week_cents, f.volume_week_kopecks) == (settled.usd_cents, 1_000_00)
        assert (f.open_invoices, f.open_invoices_kopecks, f.disputes) == (1, 500_00, 1)
        assert (f.unmatched_transfers, f.unmatched_cents) == (1, 12_34)
        assert (f.pending_cash_outs, f.pending_cash_outs_cents) == (1, 5_00)
        assert f.queue_requests == 1
        assert f.queue_depth_cents == ledger.balance(request.escrow_account_id).available > 0
        assert f.failed_jobs == 0 and f.ledger_check is None
        hours = ops_dashboard.volume_per_hour()
        assert len(hours) == 24 and hours[-1].hour > hours[0].hour
        assert (sum(p.usd_cents for p in hours), sum(p.count for p in hours)) == (settled.usd_cents, 1)
        assert ops_dashboard.invoice_outcomes() == {"settled": 1, "open": 1, "disputed": 1, "cancelled": 0,
                                                    "expired": 0, "failed": 0, "rejected": 0}

        db.session.commit()
        few = _count_queries(_everything)
        for i in range(6):
            other = quick_user(f"buyer{i}@example.com")
            deposit = _invoiced(other, 200_00)
            invoices.settle_paid(deposit.id, deposit.amount_kopecks, source="test")
            db.session.commit()
        assert _count_queries(_everything) == few <= 6
        waiting_id = waiting.id
    assert waiting_id

    ops = sign_in(app, staff.ops)
    page = ops.get("/admin/").get_data(as_text=True)
    assert 'hx-trigger="every 15s"' in page and page.count("<svg") >= 2 and "<rect" in page
    assert 'id="fig-disputes">1<' in page and 'id="fig-unmatched">1<' in page
    assert 'hx-get="/admin/live"' in page
    live = ops.get("/admin/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="ops-live"' in live and "<nav" not in live and 'id="fig-disputes">1<' in live


def test_ledger_check_runs_in_a_job_and_the_dashboard_shows_it(app, staff):
    """Does "check the ledger" queue a job (audited) whose stored result the dashboard then shows?"""
    from rq import Queue

    from app.jobs.ops import verify_ledger_job
    from app.redis_client import get_redis

    ops = sign_in(app, staff.ops)
    assert post_form(ops, "/admin/", "/admin/ledger-check", {"lv-reason": ""}).status_code == 302
    assert audit_events(app, "admin.ledger.verify_requested") == []
    assert post_form(ops, "/admin/", "/admin/ledger-check", {"lv-reason": "after the incident"}).status_code == 302
    [requested] = audit_events(app, "admin.ledger.verify_requested")
    assert (requested.actor_id, requested.reason) == (staff.ops.id, "after the incident")
    with app.app_context():
        queue = Queue("default", connection=get_redis())
        [job] = queue.get_jobs()
        assert job.func_name == "app.jobs.ops.verify_ledger_job" and job.args == (staff.ops.id,)
        assert verify_ledger_job(*job.args) is True  # what the worker runs
        check = db.session.scalar(sa.select(LedgerCheck))
        assert check.ok and check.requested_by_id == staff.ops.id and check.violations == 0
    page = ops.get("/admin/").get_data(as_text=True)
    assert 'id="fig-ledger-check"' in page and "badge ok" in page
