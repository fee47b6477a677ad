"""The seller's dashboard: live progress bars, open invoices with countdowns, sales and earnings, buyer masked."""
import re

from app.extensions import db
from app.market import invoices, matching
from app.models.market import Deposit
from tests.helpers import PASSWORD, csrf_from


def _login(client, email):
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})


def _market(m):
    m.seller("seller@example.com", "tbank")
    buyer = m.buyer("buyer@example.com")
    sold = m.deposit(buyer, "tbank", 960_00)  # $10 at the default rate
    matching.match(sold.id)
    db.session.commit()
    invoices.settle_paid(sold.id, 960_00, source="test")
    db.session.commit()
    open_one = m.deposit(buyer, "tbank", 480_00)
    matching.match(open_one.id)
    return db.session.get(Deposit, open_one.id).order_id


def test_dashboard_shows_progress_invoices_sales_and_earnings(market_web, market_app):
    """Does the dashboard show the stacked progress, the open invoice's countdown, the sale and the chart?"""
    order_id = market_web(_market)
    client = market_app.test_client()
    _login(client, "seller@example.com")
    page = client.get("/seller/").get_data(as_text=True)
    assert 'class="chart chart-stacked"' in page and "part-filled" in page and "part-reserved" in page
    assert 'hx-get="/seller/live"' in page and 'hx-trigger="every 3s"' in page
    assert re.search(r'data-expires-in="\d+"', page) and f"#{order_id[:6]}" in page
    sales = page.split('id="completed-sales"', 1)[1]
    assert "960,00" in sales and "buyer@example.com" not in page
    chart = page.split('id="earnings"', 1)[1]
    assert 'class="chart chart--bar"' in chart and "<desc" in chart and "style=" not in chart
    live = client.get("/seller/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert live.lstrip().startswith("{#") or live.lstrip().startswith("<section")
    assert 'id="seller-live"' in live and "<html" not in live
    assert client.get("/seller/live").status_code == 302  # without htmx: the whole dashboard
    idle = market_app.test_client()  # the buyer sells nothing: the live part renders without a poll
    _login(idle, "buyer@example.com")
    live = idle.get("/seller/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="seller-live"' in live and "hx-trigger" not in live


def test_each_request_shows_its_rate_the_rubles_to_expect_and_its_place(market_web, market_app):
    """Does the seller see, per request, the rate, the rubles still to come and the place in the FIFO queue?"""
    from app.market import withdrawals
    from app.models import User
    from app.models.market import WithdrawalRequest

    def setup(m):
        _market(m)  # seller@: $100, $10 sold (960 ₽), $5 in an open invoice (480 ₽)
        m.seller("other@example.com", "tbank")
        m.seller("other-method@example.com", "yookassa")  # another method: another queue
        seller = db.session.scalar(db.select(User).where(User.email == "seller@example.com"))
        request_id = db.session.scalar(db.select(WithdrawalRequest.id).where(WithdrawalRequest.seller_id == seller.id))
        withdrawals.pause(seller, request_id)
        withdrawals.resume(seller, request_id)  # back at the end of the queue, behind other@
        return request_id

    request_id = market_web(setup)
    client = market_app.test_client()
    _login(client, "seller@example.com")
    for url in ("/seller/", "/seller/withdrawals"):
        page = client.get(url).get_data(as_text=True)
        outlook = re.search(r'<p class="withdrawal-outlook">(.*?)</p>', page, re.S).group(1)
        assert "96,00\xa0₽" in outlook, url  # the default T-Bank rate
        assert "8\u202f640,00\xa0₽" in outlook, url  # $85 for sale + $5 in the open invoice, at 96 ₽
        assert re.search(r'class="queue-place">2<', outlook), url  # behind other@; the YooKassa queue is another
    live = client.get("/seller/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'class="queue-place">2<' in live
    ahead = market_app.test_client()
    _login(ahead, "other@example.com")
    assert 'class="queue-place">1<' in ahead.get("/seller/").get_data(as_text=True)
    market_web(lambda m: withdrawals.pause(
        db.session.scalar(db.select(User).where(User.email == "seller@example.com")), request_id))
    page = client.get("/seller/withdrawals").get_data(as_text=True)
    assert "На паузе — не в очереди" in page and "queue-place" not in page


def test_the_new_request_form_quotes_rubles_and_place_live(market_web, market_app):
    """Does the quote under the amount say the rate, the rubles and the place at the queue's end, own forms only?"""
    def setup(m):
        _, theirs, _ = m.seller("early@example.com", "tbank")
        _, mine, _ = m.seller("seller@example.com", "tbank")
        return mine.id, theirs.id

    mine, theirs = market_web(setup)
    client = market_app.test_client()
    _login(client, "seller@example.com")
    page = client.get("/seller/withdrawals").get_data(as_text=True)
    assert 'hx-get="/seller/withdrawals/quote"' in page and 'id="withdrawal-quote"' in page
    quote = client.get(f"/seller/withdrawals/quote?wr-payment_form={mine}&wr-amount=50", headers={"HX-Request": "true"})
    html = quote.get_data(as_text=True)
    assert quote.status_code == 200 and "<html" not in html
    assert "96,00\xa0₽" in html and "4\u202f800,00\xa0₽" in html and "3-м в очереди" in html
    for query in (f"wr-payment_form={theirs}&wr-amount=50", f"wr-payment_form={mine}&wr-amount=abc",
                  "wr-payment_form=x&wr-amount=50", f"wr-payment_form={mine}", "wr-payment_form=99999999999999999999&wr-amount=1"):
        response = client.get(f"/seller/withdrawals/quote?{query}", headers={"HX-Request": "true"})
        assert response.status_code == 200 and "withdrawal-quote-figures" not in response.get_data(as_text=True), query
    # a refused submit keeps the quote of what was typed
    token = csrf_from(page)
    key = re.search(r'name="wr-request_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    refused = client.post("/seller/withdrawals", data={
        "csrf_token": token, "wr-payment_form": mine, "wr-amount": "50", "wr-min_invoice": "900",
        "wr-max_invoice": "100", "wr-max_open_invoices": "3", "wr-request_key": key})
    assert refused.status_code == 422 and "4\u202f800,00\xa0₽" in refused.get_data(as_text=True)
