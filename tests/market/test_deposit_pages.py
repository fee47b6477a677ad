"""The buyer's pages: the deposit form, the live status and the invoice, with bad input refused."""
import re

import sqlalchemy as sa

from app.extensions import db
from app.models.market import Deposit
from app.services import matching
from tests.helpers import PASSWORD, csrf_from


def _login(client, email):
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})


def _deposit_form(client):
    page = client.get("/buy/").get_data(as_text=True)
    key = re.search(r'name="dep-request_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    return page, key


def _count_deposits(app):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Deposit))


def test_methods_with_liquidity_and_a_deposit_to_the_invoice(market_web, market_app):
    """Does the form list only methods with sellers, and does confirming lead to a live invoice page?"""
    market_web(lambda m: (m.seller("seller@example.com", "tbank"), m.buyer()))
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    page, key = _deposit_form(client)
    assert 'value="tbank"' in page and 'value="yookassa"' not in page
    response = client.post("/buy/", data={"dep-kind": "tbank", "dep-amount": "1 000", "dep-request_key": key,
                                          "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    again = client.post("/buy/", data={"dep-kind": "tbank", "dep-amount": "1 000", "dep-request_key": key,
                                       "csrf_token": csrf_from(page)})
    assert again.headers["Location"] == response.headers["Location"]  # a double click: one deposit
    assert _count_deposits(market_app) == 1
    status = client.get(response.headers["Location"], headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger=\"every 2s\"" in status and "matching" in status
    market_web(lambda m: matching.match(db.session.scalar(sa.select(Deposit.id))))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1\u202f000,00\xa0₽" in page
    assert 'id="pay-button"' in page and "seller@example.com" not in page


def test_bad_amounts_are_refused_with_a_message(market_web, market_app):
    """Are malformed, too small and unknown-method submissions refused without writing anything?"""
    market_web(lambda m: (m.seller("seller@example.com", "tbank"), m.buyer()))
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    for kind, amount in [("tbank", "abc"), ("tbank", "1.234"), ("tbank", "-5"), ("tbank", "1"),
                         ("qiwi", "1000"), ("tbank", "")]:
        page, key = _deposit_form(client)
        response = client.post("/buy/", data={"dep-kind": kind, "dep-amount": amount, "dep-request_key": key,
                                              "csrf_token": csrf_from(page)})
        assert response.status_code == 422, (kind, amount)
    assert _count_deposits(market_app) == 0


def test_another_users_deposit_is_not_found(market_web, market_app):
    """Does a buyer get 404 for someone else's deposit page and buttons?"""
    def setup(m):
        m.seller("seller@example.com", "tbank")
        m.buyer("other@example.com")
        return m.deposit(m.buyer("owner@example.com"), "tbank", 1_000_00).id

    deposit_id = market_web(setup)
    client = market_app.test_client()
    _login(client, "other@example.com")
    assert client.get(f"/buy/{deposit_id}").status_code == 404
    token = csrf_from(client.get("/buy/").get_data(as_text=True))
    assert client.post(f"/buy/{deposit_id}/paid", data={"csrf_token": token}).status_code == 404


def test_quote_preview(market_web, market_app):
    """Does the quote fragment show what the buyer pays and receives?"""
    market_web(lambda m: m.buyer())
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    html = client.get("/buy/quote?dep-kind=tbank&dep-amount=960").get_data(as_text=True)
    assert "10,00" in html  # 960 ₽ at 96 ₽/$ = $10
