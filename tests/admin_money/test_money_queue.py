"""The queue with sellers' records, ops pausing and resuming requests, and the invoice search."""
import sqlalchemy as sa

from app.extensions import db
from app.market import invoices, matching
from app.models.market import Deposit, WithdrawalRequest
from tests.admin_money.conftest import Market, audit_events, session_of, token


def _market(market_app, providers):
    """Two sellers in the queue; the first has sold one invoice and had one dispute."""
    with market_app.app_context():
        m = Market(providers)
        _, _, first = m.seller("first@example.com", "tbank")
        _, _, second = m.seller("second@example.com", "tbank")
        buyer = m.buyer("buyer@example.com")
        sold = m.deposit(buyer, "tbank", 1_000_00)
        matching.match(sold.id)
        assert invoices.settle_paid(sold.id, 1_000_00, source="test") == "settled"
        argued = m.deposit(m.buyer("other@example.com"), "tbank", 2_000_00)
        matching.match(argued.id)
        invoices.dispute(db.session.get(Deposit, argued.id), "buyer: paid")
        db.session.commit()
        return first.id, second.id


def test_queue_pause_resume_and_invoice_search(market_app, providers, market_staff):
    """Is the queue FIFO with fill rate and disputes; do pause / resume work with a reason, audited; does the search find?"""
    first, second = _market(market_app, providers)
    ops = session_of(market_app, market_staff.ops)
    page = ops.get("/admin/queue").get_data(as_text=True)
    assert page.index(f"queue-{first}") < page.index(f"queue-{second}")
    row = page[page.index(f"queue-{first}"):page.index(f"queue-{second}")]
    assert "100 % (1/1)" in row and '<td class="disputes">1</td>' in row  # one sold, none lost; one dispute
    csrf = token(ops)
    assert ops.post(f"/admin/queue/{first}/pause", data={"csrf_token": csrf, "reason": ""}).status_code == 303
    with market_app.app_context():
        assert db.session.get(WithdrawalRequest, first).status == "active"  # no reason: nothing happened
    ops.post(f"/admin/queue/{first}/pause", data={"csrf_token": csrf, "reason": "seller asked by phone"})
    ops.post(f"/admin/queue/{first}/pause", data={"csrf_token": csrf, "reason": "again"})  # already paused
    with market_app.app_context():
        assert db.session.get(WithdrawalRequest, first).status == "paused"
    ops.post(f"/admin/queue/{first}/resume", data={"csrf_token": csrf, "reason": "seller is back"})
    page = ops.get("/admin/queue").get_data(as_text=True)
    assert page.index(f"queue-{second}") < page.index(f"queue-{first}")  # back at the end of the queue
    (paused,) = audit_events(market_app, "withdrawal.paused")
    (resumed,) = audit_events(market_app, "withdrawal.resumed")
    assert paused.actor_id == market_staff.ops.id and paused.reason == "seller asked by phone"
    assert paused.details["by"] == "ops" and resumed.reason == "seller is back"
    assert ops.post(f"/admin/queue/{first}/explode", data={"csrf_token": csrf, "reason": "x"}).status_code == 404
    _check_invoice_search(market_app, ops)  # the same market, searched


def _check_invoice_search(market_app, ops):
    """State, provider, amount, date and user filters find the right invoices; bad input is a clear 422."""
    with market_app.app_context():
        sold, argued = db.session.scalars(sa.select(Deposit.id).order_by(Deposit.id)).all()

    def ids(query: str) -> set[int]:
        response = ops.get("/admin/invoices?" + query)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        html = response.get_data(as_text=True)
        return {i for i in (sold, argued) if f"<td>{i}</td>" in html or f">{i}</a>" in html}

    assert ids("") == {sold, argued}
    assert ids("status=settled") == {sold}
    assert ids("status=disputed&kind=tbank") == {argued}
    assert ids("kind=yookassa") == set()
    assert ids("min_amount=1500") == {argued}
    assert ids("max_amount=1000") == {sold}
    assert ids("user=other%40") == {argued}
    assert ids("user=FIRST%40example") == {sold, argued}  # the seller's e-mail, any case
    assert ids("created_from=2000-01-01&created_to=2999-12-31") == {sold, argued}
    assert ids("created_to=2000-01-01") == set()
    assert ids("page=99") == set()
    for bad in ("min_amount=abc", "min_amount=500&max_amount=100", "created_from=2026-13-01",
                "created_from=2026-02-01&created_to=2026-01-01", "status=nonsense"):
        assert ops.get("/admin/invoices?" + bad).status_code == 422, bad
