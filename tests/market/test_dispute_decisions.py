"""Both sides see how a dispute ended: the decision and its reason, and how to reach support."""
import re

import sqlalchemy as sa

from app.core import settings as settings_service
from app.extensions import db
from app.market import invoices, matching
from app.models import Role
from app.models.market import Deposit
from tests.helpers import PASSWORD, csrf_from, gen_user

REJECT_REASON = "No payment for this order at the provider on 04.12"


def _login(client, email):
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})


def _disputed(m, buyer, rubles):
    deposit = m.deposit(buyer, "tbank", rubles)
    assert matching.match(deposit.id) == "awaiting_payment"
    db.session.commit()
    assert invoices.expire(deposit.id) == "expired"
    invoices.dispute(db.session.get(Deposit, deposit.id), "buyer: I paid at 10:05", actor=buyer)
    db.session.commit()
    return deposit.id


def _world(m):
    """Three disputes on one seller's invoices: rejected by ops, confirmed automatically, still open."""
    m.seller("seller@example.com", "tbank")
    buyer = m.buyer("buyer@example.com")
    ops = gen_user("ops@example.com", role=Role.OPS, totp=True)
    rejected, confirmed, still_open = (_disputed(m, buyer, r) for r in (1_000_00, 960_00, 480_00))
    invoices.resolve_dispute(rejected, confirm=False, actor=ops, reason=REJECT_REASON)
    invoices.resolve_dispute(confirmed, confirm=True, actor=None,
                             reason="automatic: the provider reports paid 96000 (CONFIRMED)")
    settings_service.change_support_contact(actor=ops, reason="support desk opened", contact="help@pokerpay.example")
    db.session.commit()
    orders = dict(db.session.execute(sa.select(Deposit.id, Deposit.order_id)).all())
    return rejected, confirmed, still_open, orders


def test_the_buyer_sees_the_decision_and_its_reason_on_the_invoice(market_web, market_app):
    """Does the invoice page say what ops decided and why, with the support contact; nothing while still open?"""
    rejected, confirmed, still_open, _ = market_web(_world)
    client = market_app.test_client()
    _login(client, "buyer@example.com")
    page = client.get(f"/buy/{rejected}").get_data(as_text=True)
    block = re.search(r'<article id="dispute-decision".*?</article>', page, re.S).group(0)
    assert "Решение по спору: оплата не подтверждена" in block and REJECT_REASON in block
    assert 'href="mailto:help@pokerpay.example"' in block and 'hx-boost="false"' in block
    page = client.get(f"/buy/{confirmed}").get_data(as_text=True)
    block = re.search(r'<article id="dispute-decision".*?</article>', page, re.S).group(0)
    assert "оплата подтверждена" in block and "автоматически" in block
    assert "automatic:" not in page and "CONFIRMED" not in page  # the resolver's note is said in words
    assert 'id="dispute-decision"' not in client.get(f"/buy/{still_open}").get_data(as_text=True)
    fragment = client.get(f"/buy/{rejected}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert REJECT_REASON in fragment and "<html" not in fragment  # the live fragment carries it too
    listing = client.get("/buy/history").get_data(as_text=True)
    assert "Спор: оплата не подтверждена" in listing and REJECT_REASON in listing
    assert "Спор: оплата подтверждена" in listing


def test_the_seller_sees_each_dispute_and_its_decision_on_the_dashboard(market_web, market_app):
    """Does the seller's dashboard list open and decided disputes on their invoices, with reasons, buyer masked?"""
    rejected, confirmed, still_open, orders = market_web(_world)
    client = market_app.test_client()
    _login(client, "seller@example.com")
    page = client.get("/seller/").get_data(as_text=True)
    section = re.search(r'<article id="seller-disputes">.*?</article>', page, re.S).group(0)
    rows = {key: re.search(rf'<tr id="seller-dispute-{orders[key][:6]}">.*?</tr>', section, re.S).group(0)
            for key in (rejected, confirmed, still_open)}
    assert "оплата не подтверждена" in rows[rejected] and REJECT_REASON in rows[rejected]
    assert "оплата подтверждена" in rows[confirmed] and "Платёжная система подтвердила" in rows[confirmed]
    assert "на проверке" in rows[still_open]
    assert "buyer@example.com" not in page and "help@pokerpay.example" in section
    other = market_app.test_client()  # the buyer sells nothing: no disputes section on their dashboard
    _login(other, "buyer@example.com")
    assert 'id="seller-disputes"' not in other.get("/seller/").get_data(as_text=True)
