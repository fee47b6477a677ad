"""The invoice page runs a fixed, small number of queries, whatever the buyer's history."""
import sqlalchemy as sa

from app.extensions import db
from app.market import matching
from app.models import User
from tests.helpers import PASSWORD, csrf_from
from tests.querycount import count_queries

#: measured 2026-12-07: the page 6 on SQLite (the split it is a part of, the dispute case it may have were
#: added), the poll 4; fewer on PostgreSQL.  The bound is what a page may cost whatever its history holds.
INVOICE_BOUND = 6


def _login(client, email):
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})


def _count(app, client, url, **headers) -> int:
    with count_queries(app) as statements:
        assert client.get(url, headers=headers).status_code == 200
    return len(statements)


def test_invoice_page_queries_are_bounded(market_web, market_app):
    """Do the invoice page and its poll run the same bounded number of queries with 1 or 4 deposits?"""
    def setup(m):
        m.seller("seller@example.com", "tbank", dollars=500_00)
        deposit = m.deposit(m.buyer("buyer@example.com"), "tbank", 500_00)
        matching.match(deposit.id)
        return deposit.id

    deposit_id = market_web(setup)
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    url = f"/buy/{deposit_id}"
    before = (_count(market_app, client, url), _count(market_app, client, url, **{"HX-Request": "true"}))

    def more(m):
        buyer = db.session.scalar(sa.select(User).where(User.email == "buyer@example.com"))
        for _ in range(3):
            matching.match(m.deposit(buyer, "tbank", 500_00).id)

    market_web(more)
    after = (_count(market_app, client, url), _count(market_app, client, url, **{"HX-Request": "true"}))
    assert before == after, (before, after)
    assert max(after) <= INVOICE_BOUND, after


#: measured 2026-11-29.  PostgreSQL (7): the pick (deposit lock, queue, slot, form, wallet, lifetime in one
#: WITH), the hold's lock and insert, the attempt's fields; then the form's failure reset (writes nothing when
#: none were counted), the publish and its audit event.  SQLite (14): the pick's steps one by one.
MATCH_STATEMENTS = {"postgresql": 7, "sqlite": 14}


def test_matching_a_deposit_runs_a_fixed_number_of_statements(market, market_app):
    """Does reserving a seller's dollars and publishing the invoice take the same few statements every time?
    (The buyer's first purchase also opens their wallet: it is made before counting.)"""
    market.seller("seller@example.com", "tbank", dollars=900_00)
    buyer = market.buyer("buyer@example.com")
    counts = []
    for _ in range(3):
        deposit_id = market.deposit(buyer, "tbank", 100_00).id
        with count_queries(market_app) as statements:
            assert matching.match(deposit_id) == "awaiting_payment"
        counts.append(len(statements))
    assert counts[1:] == [MATCH_STATEMENTS[db.engine.dialect.name]] * 2, counts
