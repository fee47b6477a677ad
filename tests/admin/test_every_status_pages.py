"""A deposit in every status the deposit state machine has, then every ops page and the buyer's pages render.

The ops dashboard once answered 500 (``KeyError: 'cancelled'``) as soon as a buyer cancelled an invoice: its
outcome chart kept a hand-written list of statuses.  The statuses here come from the machine itself, so a status
added there is covered without touching this test.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.database import utcnow
from app.extensions import db
from app.models import User
from app.models.market import Deposit
from app.operations import ops_dashboard
from app.states import DEPOSIT
from tests.admin.conftest import make_deposit, make_seller, sign_in

#: the ops area's pages that take no argument; the ones for one deposit are added per deposit below
OPS_PAGES = ["/admin/", "/admin/live", "/admin/disputes", "/admin/queue", "/admin/invoices", "/admin/users",
             "/admin/ledger", "/admin/ledger/transfers", "/admin/jobs", "/admin/room", "/admin/room/reconciliation"]


def _one_deposit_per_status(buyer) -> dict[str, int]:
    """One deposit in each state, set directly: this test is about rendering, not about reaching the state."""
    made = {}
    for status in sorted(DEPOSIT.states):
        deposit = make_deposit(buyer, 1_000_00)
        db.session.execute(sa.update(Deposit).where(Deposit.id == deposit.id).values(
            status=status, expires_at=utcnow() + timedelta(minutes=10),
            pay_url="https://pay.example.test/invoice" if status != "matching" else None,
            reason="no seller had enough dollars" if status in ("failed", "rejected") else None))
        made[status] = deposit.id
    db.session.commit()
    return made


def test_the_state_machine_and_the_outcome_chart_agree():
    """Every deposit state falls into exactly one outcome group, and every group has a name of its own."""
    from app.web.admin.dashboard_routes import OUTCOME_LABELS

    groups = {ops_dashboard.outcome_group(status) for status in DEPOSIT.states}
    assert groups == set(ops_dashboard.OUTCOME_GROUPS)
    assert set(OUTCOME_LABELS) == set(ops_dashboard.OUTCOME_GROUPS)


@pytest.mark.usefixtures("staff")
def test_every_ops_page_renders_with_a_deposit_in_every_status(app, staff):
    with app.app_context():
        make_seller("seller@example.com")
        buyer = db.session.get(User, staff.user.id)
        made = _one_deposit_per_status(buyer)
        outcomes = ops_dashboard.invoice_outcomes()
    assert sum(outcomes.values()) == len(made)
    assert all(outcomes[ops_dashboard.outcome_group(status)] >= 1 for status in made)

    ops = sign_in(app, staff.ops)
    pages = OPS_PAGES + [f"/admin/invoices?status={status}" for status in made]
    pages += [f"/admin/users/{staff.user.id}"]
    for path in pages:
        response = ops.get(path)
        assert response.status_code == 200, (path, response.status_code)
    live = ops.get("/admin/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    for group in ops_dashboard.OUTCOME_GROUPS:
        assert f"outcome-{group}" in live, group
    disputed = ops.get(f"/admin/disputes/{made['disputed']}")
    assert disputed.status_code == 200
    for status, deposit_id in made.items():
        assert ops.get(f"/admin/disputes/{deposit_id}").status_code < 500, status


@pytest.mark.usefixtures("staff")
def test_the_buyer_sees_every_status_without_an_error(app, staff):
    with app.app_context():
        buyer = db.session.get(User, staff.user.id)
        made = _one_deposit_per_status(buyer)
    client = sign_in(app, staff.user)
    for status, deposit_id in made.items():
        page = client.get(f"/buy/{deposit_id}")
        assert page.status_code == 200, status
        assert f'data-status="{status}"' in page.get_data(as_text=True)
    assert client.get("/buy/history").status_code == 200
