"""The invoice page: amount, pay button, QR, countdown, live status and a panel for each outcome."""
import re

import sqlalchemy as sa

from app.extensions import db
from app.market import invoices, matching
from app.models.market import Deposit
from app.web.deposits import polling
from tests.helpers import PASSWORD, csrf_from
from tests.security.test_pages import leaving_links_problems


def _login(client, email):
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})


def _open_invoice(market_web, kind="tbank"):
    def setup(m):
        m.seller("seller@example.com", kind)
        m.buyer("other@example.com")
        deposit = m.deposit(m.buyer("buyer@example.com"), kind, 1_000_00)
        matching.match(deposit.id)
        return deposit.id

    return market_web(setup)


def _status(app, deposit_id):
    with app.app_context():
        return db.session.scalar(sa.select(Deposit.status).where(Deposit.id == deposit_id))


def _assert_seller_hidden(html: str) -> None:
    assert "seller@example.com" not in html and "tbank of" not in html and "yookassa of" not in html


def test_open_invoice_shows_what_to_pay_and_polls(market_web, market_app):
    """Does the open invoice show the rubles with a copy button, the dollars, pay button, QR and countdown?"""
    deposit_id = _open_invoice(market_web)
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    response = client.get(f"/buy/{deposit_id}")
    assert "HX-Request" in response.headers["Vary"]  # page and fragment are cached apart
    page = response.get_data(as_text=True)
    assert 'id="amount-to-pay"' in page and 'data-copy="1000"' in page
    assert 'id="pay-button"' in page and 'id="usd-to-receive"' in page
    assert leaving_links_problems(page) == []  # the pay link leaves the site: htmx must not boost it
    assert "<svg" in page  # T-Bank gives an SBP payload: a server-rendered QR code
    left = int(re.search(r'data-expires-in="(\d+)"', page).group(1))
    assert 0 < left <= 30 * 60
    assert f'hx-trigger="{polling.POLL_TRIGGER}"' in page
    assert 'id="cancel-invoice"' in page and 'id="claim-paid"' in page
    assert "style=" not in page.split("<main", 1)[-1].replace('xmlns', '')  # CSP: no inline styles
    _assert_seller_hidden(page)


def test_buyer_cancels_from_the_page(market_web, market_app):
    """Is Cancel refused to others and without CSRF; does the buyer's close the invoice and stop polling, once?"""
    deposit_id = _open_invoice(market_web)
    other = market_app.test_client()
    _login(other, "other@example.com")
    token = csrf_from(other.get("/buy/").get_data(as_text=True))
    assert other.post(f"/buy/{deposit_id}/cancel", data={"csrf_token": token}).status_code == 404
    assert _status(market_app, deposit_id) == "awaiting_payment"
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    page = client.get(f"/buy/{deposit_id}").get_data(as_text=True)
    assert client.post(f"/buy/{deposit_id}/cancel", data={}).status_code == 400  # no CSRF token
    assert _status(market_app, deposit_id) == "awaiting_payment"
    response = client.post(f"/buy/{deposit_id}/cancel", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert client.post(f"/buy/{deposit_id}/cancel", data={"csrf_token": csrf_from(page)}).status_code == 302
    assert _status(market_app, deposit_id) == "cancelled"
    panel = client.get(f"/buy/{deposit_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-status="cancelled"' in panel and "hx-trigger" not in panel
    assert 'id="try-again"' in panel and "amount=1000" in panel
    _assert_seller_hidden(panel)


def test_final_states_have_their_own_panels(market_web, market_app):
    """Expired, disputed and settled: each its own panel, no polling, and never the seller's name."""
    deposit_id = _open_invoice(market_web)
    client = market_app.test_client()
    _login(client, "buyer@example.com")

    market_web(lambda m: invoices.expire(deposit_id))
    page = client.get(f"/buy/{deposit_id}").get_data(as_text=True)
    assert 'data-status="expired"' in page and 'id="try-again"' in page
    assert "kind=tbank" in page and "amount=1000" in page
    assert f'hx-trigger="{polling.POLL_TRIGGER}"' not in page
    _assert_seller_hidden(page)
    form = client.get("/buy/?kind=tbank&amount=1000").get_data(as_text=True)
    assert 'value="1000"' in form  # "try again" pre-fills the new deposit

    market_web(lambda m: invoices.dispute(db.session.get(Deposit, deposit_id), "paid late, escrow checked by ops"))
    page = client.get(f"/buy/{deposit_id}").get_data(as_text=True)
    assert 'data-status="disputed"' in page and "<ol>" in page  # what happens next, step by step
    assert "escrow checked by ops" not in page  # ops' notes are not the buyer's panel
    _assert_seller_hidden(page)

    assert market_web(lambda m: invoices.resolve_dispute(deposit_id, confirm=True, actor=None,
                                                         reason="receipt checked")) == "settled"
    page = client.get(f"/buy/{deposit_id}").get_data(as_text=True)
    assert 'data-status="settled"' in page and 'id="open-wallet"' in page and "/wallet/" in page
    _assert_seller_hidden(page)


def _poll_url(fragment: str) -> str:
    return re.search(r'hx-get="([^"]+)"', fragment).group(1).replace("&amp;", "&")


def test_an_unchanged_poll_gets_no_content_and_a_changed_one_the_new_fragment(market_web, market_app):
    """Is the 2-second poll answered with an empty 204 while nothing shown has changed, and with the new
    fragment as soon as something has (here: the buyer says they paid)?  Others still get a 404."""
    deposit_id = _open_invoice(market_web)
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    htmx = {"HX-Request": "true"}
    fragment = client.get(f"/buy/{deposit_id}", headers=htmx).get_data(as_text=True)
    poll = _poll_url(fragment)
    assert poll.startswith(f"/buy/{deposit_id}?v=")
    unchanged = client.get(poll, headers=htmx)
    assert (unchanged.status_code, unchanged.get_data()) == (204, b"")
    assert client.get(poll).status_code == 200  # a page load always renders
    assert client.get(f"/buy/{deposit_id}?v=stale", headers=htmx).status_code == 200

    other = market_app.test_client()
    _login(other, "other@example.com")
    assert other.get(poll, headers=htmx).status_code == 404  # the owner check comes first

    client.post(f"/buy/{deposit_id}/paid", data={"csrf_token": csrf_from(fragment)})
    changed = client.get(poll, headers=htmx)
    assert changed.status_code == 200
    new_fragment = changed.get_data(as_text=True)
    assert 'id="claim-paid"' not in new_fragment and _poll_url(new_fragment) != poll
    assert client.get(_poll_url(new_fragment), headers=htmx).status_code == 204


def test_a_settled_invoice_gives_a_receipt(market_web, market_app):
    """Does the settled panel show order number, rubles paid, dollars credited, rate, provider and time?"""
    deposit_id = _open_invoice(market_web)
    assert market_web(lambda m: invoices.settle_paid(deposit_id, 1_000_00, source="test")) == "settled"
    with market_app.app_context():
        deposit = db.session.get(Deposit, deposit_id)
        order_id, rate, credited = deposit.order_id, deposit.rate_kopecks, deposit.usd_cents - deposit.buyer_fee_cents
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    page = client.get(f"/buy/{deposit_id}").get_data(as_text=True)
    receipt = page.split('id="receipt"', 1)[1].split("</dl>", 1)[0]
    assert order_id in receipt
    assert re.search(r'id="receipt-paid">1\s?000', receipt)
    assert f"{credited // 100}" in receipt.split('id="receipt-credited">', 1)[1].split("<", 1)[0]
    assert f"{rate // 100}" in receipt.split('id="receipt-rate">', 1)[1].split("<", 1)[0].replace("\u00a0", "")
    assert "T-Bank" in receipt.split('id="receipt-provider">', 1)[1].split("<", 1)[0]
    assert receipt.split('id="receipt-time">', 1)[1].split("<", 1)[0].strip()
    _assert_seller_hidden(page)
