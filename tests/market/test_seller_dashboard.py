"""The seller's dashboard: live progress bars, open invoices with countdowns, sales and earnings, buyer masked."""
import re

from app.extensions import db
from app.models.market import Deposit
from app.services import invoices, matching
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
