"""The seller's pages: put dollars up for sale, pause, resume, cancel; nobody else's requests."""
import re

import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.models.market import WithdrawalRequest
from tests.helpers import PASSWORD, csrf_from


def _login(client, email):
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})


def _request_row(app):
    with app.app_context():
        return db.session.scalar(sa.select(WithdrawalRequest))


def test_put_up_pause_resume_cancel(market_web, market_app):
    """Can a seller put dollars up through the form and pause, resume and cancel the request?"""
    def setup(m):
        from app.market import payment_forms
        from tests.helpers import gen_user

        user = gen_user("seller@example.com")
        m.fund(user, 100_00)
        payment_forms.add_form(user, "tbank", "T", m.providers.account("tbank"))

    market_web(setup)
    client = market_app.test_client()
    _login(client, "seller@example.com")
    page = client.get("/seller/withdrawals").get_data(as_text=True)
    form_id = re.search(r'<option[^>]*value="(\d+)"', page).group(1)
    key = re.search(r'name="wr-request_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    data = {"wr-payment_form": form_id, "wr-amount": "60", "wr-min_invoice": "100", "wr-max_invoice": "5000",
            "wr-max_open_invoices": "3", "wr-request_key": key, "csrf_token": csrf_from(page)}
    assert client.post("/seller/withdrawals", data=data).status_code == 302
    assert client.post("/seller/withdrawals", data=data).status_code == 302  # a double click: one request
    with market_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WithdrawalRequest)) == 1
    request = _request_row(market_app)
    token = csrf_from(client.get("/seller/withdrawals").get_data(as_text=True))
    for action, status in (("pause", "paused"), ("resume", "active"), ("cancel", "cancelled")):
        client.post(f"/seller/withdrawals/{request.id}/{action}", data={"csrf_token": token})
        assert _request_row(market_app).status == status
    with market_app.app_context():
        from app.models import User

        seller = db.session.scalar(sa.select(User).where(User.email == "seller@example.com"))
        assert ledger.balance(ledger.wallet_of(seller.id)).available == 100_00
    dashboard = client.get("/seller/").get_data(as_text=True)
    assert "T" in dashboard


def test_bad_withdrawal_input_writes_nothing(market_web, market_app):
    """Are an amount over the balance, min above max and a malformed amount refused with no request?"""
    def setup(m):
        from app.market import payment_forms
        from tests.helpers import gen_user

        user = gen_user("seller@example.com")
        m.fund(user, 10_00)
        payment_forms.add_form(user, "tbank", "T", m.providers.account("tbank"))

    market_web(setup)
    client = market_app.test_client()
    _login(client, "seller@example.com")
    for amount, lo, hi in (("60", "100", "5000"), ("5", "5000", "100"), ("5,555", "100", "5000"), ("x", "1", "2")):
        page = client.get("/seller/withdrawals").get_data(as_text=True)
        form_id = re.search(r'<option[^>]*value="(\d+)"', page).group(1)
        key = re.search(r'name="wr-request_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)
        response = client.post("/seller/withdrawals", data={
            "wr-payment_form": form_id, "wr-amount": amount, "wr-min_invoice": lo, "wr-max_invoice": hi,
            "wr-max_open_invoices": "3", "wr-request_key": key, "csrf_token": csrf_from(page)})
        assert response.status_code == 422, (amount, lo, hi)
    with market_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WithdrawalRequest)) == 0


def test_another_sellers_request_is_not_found(market_web, market_app):
    """Does acting on someone else's request answer 404 and change nothing?"""
    def setup(m):
        from tests.helpers import gen_user

        _, _, request = m.seller("owner@example.com", "tbank")
        gen_user("intruder@example.com")
        return request.id

    request_id = market_web(setup)
    client = market_app.test_client()
    _login(client, "intruder@example.com")
    token = csrf_from(client.get("/seller/withdrawals").get_data(as_text=True))
    assert client.post(f"/seller/withdrawals/{request_id}/cancel", data={"csrf_token": token}).status_code == 404
    assert _request_row(market_app).status == "active"
