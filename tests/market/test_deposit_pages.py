"""The buyer's pages: the deposit form, the live status and the invoice, with bad input refused."""
import re

import sqlalchemy as sa

from app.extensions import db
from app.market import matching
from app.models.market import Deposit
from app.web.deposits import polling
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
    assert f'hx-trigger="{polling.POLL_TRIGGER}"' in status and "matching" in status
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
    market_web(lambda m: (m.seller("seller@example.com", "tbank"), m.buyer()))
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    html = client.get("/buy/quote?dep-kind=tbank&dep-amount=960").get_data(as_text=True)
    assert "10,00" in html  # 960 ₽ at 96 ₽/$ = $10


def _post_amount(client, amount):
    page, key = _deposit_form(client)
    return client.post("/buy/", data={"dep-kind": "tbank", "dep-amount": amount, "dep-request_key": key,
                                      "csrf_token": csrf_from(page)})


def test_an_amount_outside_the_shown_range_is_a_form_error_and_writes_nothing(market_web, market_app):
    """Is 100 ₽ under a shown 500 ₽ minimum, or 50,000 ₽ over a shown 19,200 ₽ maximum, refused with the range?"""
    # $300 at 96 ₽/$ could serve 28,800 ₽: the seller's own 19,200 ₽ per invoice is the real maximum.
    market_web(lambda m: (m.seller("seller@example.com", "tbank", dollars=300_00, min_kopecks=500_00,
                                   max_kopecks=19_200_00), m.buyer()))
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    shown = "500,00\xa0₽", "19\u202f200,00\xa0₽"
    page, _ = _deposit_form(client)
    assert all(s in page for s in shown)
    for amount in ("100", "499,99", "19 200,01", "50 000"):
        response = _post_amount(client, amount)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, amount
        assert "Сумма для этого способа — от" in html and all(s in html for s in shown), amount
        preview = client.get(f"/buy/quote?dep-kind=tbank&dep-amount={amount}").get_data(as_text=True)
        assert "field-errors" in preview and all(s in preview for s in shown), amount
    assert _count_deposits(market_app) == 0
    assert _post_amount(client, "19 200").status_code == 302  # both ends are inside
    assert _post_amount(client, "500").status_code == 302
    assert _count_deposits(market_app) == 2


def test_the_platform_bounds_narrow_the_shown_and_enforced_range(market_web, market_app):
    """When ops allow at most 5,000 ₽ per invoice, do the form and the check both say 5,000, not the seller's 10,000?"""
    from app.core import settings as settings_service

    def setup(m):
        m.seller("seller@example.com", "tbank")  # the seller takes 100 ₽ … 10,000 ₽
        m.buyer()
        settings_service.change_settings(actor=None, reason="test", invoice_max_kopecks=5_000_00)

    market_web(setup)
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    page, _ = _deposit_form(client)
    assert "5\u202f000,00\xa0₽" in page and "10\u202f000,00\xa0₽" not in page
    response = _post_amount(client, "6 000")
    assert response.status_code == 422 and "5\u202f000,00\xa0₽" in response.get_data(as_text=True)
    assert _count_deposits(market_app) == 0


def test_the_preview_says_when_nobody_sells_through_a_method(market_web, market_app):
    """Does the live quote say there is no seller rather than quote dollars nobody can deliver?"""
    market_web(lambda m: (m.seller("seller@example.com", "tbank"), m.buyer()))
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    html = client.get("/buy/quote?dep-kind=yookassa&dep-amount=1000").get_data(as_text=True)
    assert "field-errors" in html and "Сейчас никто не продаёт" in html
    assert "10,00" in client.get("/buy/quote?dep-kind=tbank&dep-amount=960").get_data(as_text=True)


def test_an_amount_between_two_sellers_ranges_is_refused_with_the_ranges(market_web, market_app):
    """With one seller taking 500–1,000 ₽ and another 5,000–19,200 ₽, is 3,000 ₽ refused (no dead purchase)?"""
    def setup(m):
        m.seller("small@example.com", "tbank", min_kopecks=500_00, max_kopecks=1_000_00)
        m.seller("large@example.com", "tbank", dollars=300_00, min_kopecks=5_000_00, max_kopecks=19_200_00)
        m.buyer()

    market_web(setup)
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    ranges = "500,00\xa0₽ – 1\u202f000,00\xa0₽, 5\u202f000,00\xa0₽ – 19\u202f200,00\xa0₽"
    page, _ = _deposit_form(client)
    assert f"Продавцы берут суммы: {ranges}" in page
    response = _post_amount(client, "3 000")
    assert response.status_code == 422 and f"Сейчас ни один продавец не берёт такую сумму. Продавцы берут: {ranges}" \
        in response.get_data(as_text=True)
    assert "ни один продавец" in client.get("/buy/quote?dep-kind=tbank&dep-amount=3000").get_data(as_text=True)
    assert _count_deposits(market_app) == 0
    assert _post_amount(client, "1 000").status_code == 302 and _post_amount(client, "5 000").status_code == 302
    assert _count_deposits(market_app) == 2
