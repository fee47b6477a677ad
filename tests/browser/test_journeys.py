"""Browser journeys through the live system (Playwright + Debian's Chromium).

Each journey runs in a browser context of its own, in one language and one
viewport; together the parameters cover Russian and English, desktop and phone.
Key pages are saved as screenshots under test-artifacts/screenshots/<journey>/.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")

from playwright.sync_api import expect  # noqa: E402

from tests.browser.pages import (  # noqa: E402
    InvoicePage,
    LoginPage,
    Navigation,
    ProviderPayPage,
    RoomSandboxPage,
    Text,
    WalletPage,
    fits_width,
)
from tests.helpers import PASSWORD  # noqa: E402

pytestmark = pytest.mark.browser

RU_DESKTOP, EN_PHONE, EN_DESKTOP, RU_PHONE = ("ru", "desktop"), ("en", "phone"), ("en", "desktop"), ("ru", "phone")


def variants(*pairs):
    return pytest.mark.parametrize("browsing", pairs, indirect=True, ids=[f"{lang}-{vp}" for lang, vp in pairs])


def dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def room_credit(system, cents: int) -> int:
    """What a room deposit of ``cents`` credits under the settings in force (minus the commission)."""
    from app.services.room_ingest import commission_for
    from app.services.settings import current_settings

    with system.context():
        return cents - commission_for(cents, current_settings())


def quote(system, kind: str, kopecks: int):
    from app.services import quotes
    from app.services.settings import current_settings

    with system.context():
        return quotes.quote(kind, kopecks, current_settings())


def seller_on_sale(system, kind: str = "tbank", dollars_cents: int = 500_00) -> str:
    """A seller (made directly, not through the browser) with ``kind`` API form and dollars for sale."""
    from app import ledger
    from app.services import payment_forms, withdrawals
    from tests.helpers import gen_user

    email = f"seller-{uuid.uuid4().hex[:8]}@example.com"
    with system.context():
        user = gen_user(email, password=PASSWORD)
        ledger.transfer(key=f"browser-fund:{uuid.uuid4().hex}",
                        debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                        credit=ledger.wallet_of(user.id), amount=dollars_cents, kind=ledger.TransferKind.ROOM_DEPOSIT)
        form = payment_forms.add_form(user, kind, f"{kind} of {email}", system.provider_account(kind))
        withdrawals.create(user, payment_form_id=form.id, amount=dollars_cents, min_invoice_kopecks=100_00,
                           max_invoice_kopecks=50_000_00, max_open_invoices=3, request_key=uuid.uuid4().hex)
    return email


def sign_in(browsing, system, make_user, prefix: str):
    t = Text(browsing.lang)
    email = make_user(prefix, browsing.lang)
    nav = LoginPage(browsing.page, t).open(system.url).sign_in(email, PASSWORD)
    return t, nav


def on_phone_fits(browsing) -> None:
    if browsing.viewport == "phone":
        fits_width(browsing.page)


# -- 1. the seller -----------------------------------------------------------------------------


@variants(RU_DESKTOP, EN_PHONE)
def test_seller_journey(browsing, system, make_user):
    """Verify a room account, deposit from the room, add an API form, put dollars up for sale."""
    b = browsing
    t, nav = sign_in(b, system, make_user, "seller")
    wallet = nav.wallet()
    identifier = f"player{uuid.uuid4().hex[:10]}"
    verification = wallet.add_room_account(identifier)
    b.shot(b.page, "wallet-account-added")
    on_phone_fits(b)

    wallet.watch_for_deposit()  # the seller says they are sending: the wallet starts polling
    b.page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    room_tab = b.new_page()
    room = RoomSandboxPage(room_tab).open(system.room_url)
    room.open_account(identifier, "500.00")
    room.transfer_to_platform(dollars(verification))  # proves the account is the seller's, and is credited
    room.transfer_to_platform("200.00")  # a deposit from the now verified account
    b.shot(room_tab, "room-transfers-sent")

    wallet.expect_available(room_credit(system, verification) + room_credit(system, 200_00))
    assert b.page.evaluate("window.__sameDocument === true"), "the wallet reloaded instead of updating live"
    b.shot(b.page, "wallet-credited")

    wallet = nav.wallet()
    wallet.expect_verified(identifier)
    on_phone_fits(b)

    form_name = f"Terminal {uuid.uuid4().hex[:6]}"
    nav.sell().manage_api_forms().add("tbank", form_name, system.provider_account("tbank"))
    b.shot(b.page, "api-form-saved")

    withdrawals = nav.sell().sell_dollars()
    card = withdrawals.put_up(form_name, "150.00", "500", "15000")
    expect(card).to_contain_text(t.usd(150_00))
    expect(card.get_by_role("button", name=t("Pause"))).to_be_visible()
    b.shot(b.page, "request-on-sale")
    on_phone_fits(b)


# -- 2. the buyer ------------------------------------------------------------------------------


@variants(RU_DESKTOP, EN_PHONE)
def test_buyer_journey(browsing, system, make_user):
    """Buy dollars, see the invoice, pay on the provider's page, see it settle without reloading."""
    b = browsing
    seller = seller_on_sale(system, "tbank")
    t, nav = sign_in(b, system, make_user, "buyer")
    q = quote(system, "tbank", 1000_00)
    receives = q.usd_cents - q.buyer_fee_cents

    buy = nav.buy()
    on_phone_fits(b)
    invoice = buy.buy("tbank", "1000")
    expect(invoice.heading("Purchase of %(usd)s", usd=t.usd(receives))).to_be_visible()
    invoice.expect_invoice("tbank", 1000_00)
    assert seller not in b.page.content(), "the buyer must never see who the seller is"
    b.shot(b.page, "invoice")
    on_phone_fits(b)

    b.page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    pay_tab = b.new_page()
    pay_tab.goto(invoice.pay_link("tbank").get_attribute("href"))
    b.shot(pay_tab, "provider-pay-page")
    ProviderPayPage(pay_tab).pay()
    pay_tab.close()

    invoice.expect_settled(receives)
    assert b.page.evaluate("window.__sameDocument === true"), "the invoice page reloaded instead of updating live"
    b.shot(b.page, "settled")

    assert seller not in b.page.content(), "the buyer must never see who the seller is"
    assert_settled_by_notification(system, b.page.url)

    invoice.button("Open the wallet").click()
    WalletPage(b.page, t).expect_available(receives)
    b.shot(b.page, "wallet")


def assert_settled_by_notification(system, deposit_url: str) -> None:
    """The provider's notification reached the live app (PUBLIC_BASE_URL) and settled the invoice."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.models.market import Deposit
    from app.models.provider_event import ProviderEvent

    deposit_id = int(deposit_url.rstrip("/").rsplit("/", 1)[-1])
    with system.context():
        deposit = db.session.get(Deposit, deposit_id)
        assert deposit.status == "settled"
        events = db.session.scalars(sa.select(ProviderEvent).where(
            ProviderEvent.payment_form_id == deposit.payment_form_id,
            ProviderEvent.provider_payment_id == deposit.provider_payment_id)).all()
        assert any(e.processed_at is not None for e in events), "settled without the provider's notification"


# -- 3. an expired invoice ---------------------------------------------------------------------


@variants(EN_DESKTOP, RU_PHONE)
def test_expired_invoice(browsing, system, make_user):
    """Nobody pays: the expiry sweeper ends the invoice, the page says so live, "try again" pre-fills."""
    import sqlalchemy as sa

    from app.database import utcnow
    from app.extensions import db
    from app.models.market import Deposit

    b = browsing
    seller_on_sale(system, "tbank")
    t, nav = sign_in(b, system, make_user, "late-buyer")
    invoice = nav.buy().buy("tbank", "750")
    invoice.expect_invoice("tbank", 750_00)
    deposit_id = int(b.page.url.rstrip("/").rsplit("/", 1)[-1])

    # The shortest lifetime the settings allow is a minute; move this invoice's expiry into the past instead.
    with system.context():
        db.session.execute(sa.update(Deposit).where(Deposit.id == deposit_id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    system.background.enqueue("app.jobs.invoices.sweep_invoices")

    invoice.expect_expired()
    b.shot(b.page, "expired")
    on_phone_fits(b)
    with system.context():
        assert db.session.get(Deposit, deposit_id).status == "expired"

    again = invoice.try_again()
    expect(again.method("tbank")).to_be_checked()
    expect(again.amount()).to_have_value("750")
    b.shot(b.page, "try-again-prefilled")


# -- 4. language switch ------------------------------------------------------------------------


@variants(RU_DESKTOP, EN_PHONE)
def test_language_switch(browsing, system, make_user):
    """Switch before signing in (kept in the session) and after (saved on the account)."""
    b = browsing
    t = Text(b.lang)
    email = make_user("polyglot", b.lang)
    login = LoginPage(b.page, t).open(system.url)
    b.shot(b.page, f"login-{t.lang}")
    other = Navigation(b.page, t).switch_language()
    login = LoginPage(b.page, other)
    expect(login.heading("Sign in")).to_be_visible()
    b.shot(b.page, f"login-{other.lang}")

    nav = login.sign_in(email, PASSWORD, account_lang=t.lang)  # the account's saved language wins
    wallet = nav.wallet()
    b.shot(b.page, f"wallet-{t.lang}")

    t2 = nav.switch_language()
    expect(wallet.heading("Wallet").first).to_be_hidden()
    expect(type(wallet)(b.page, t2).heading("Wallet")).to_be_visible()
    b.shot(b.page, f"wallet-{t2.lang}")
    b.page.reload()
    expect(type(wallet)(b.page, t2).heading("Wallet")).to_be_visible()  # saved on the account
    on_phone_fits(b)


# -- 5. a phone-sized viewport ------------------------------------------------------------------


@variants(RU_PHONE)
def test_phone_viewport(browsing, system, make_user):
    """Every main page fits a phone's width and its navigation stays reachable."""
    b = browsing
    seller_on_sale(system, "tbank")
    t, nav = sign_in(b, system, make_user, "phone")
    pages = [("wallet", nav.wallet), ("buy", nav.buy), ("sell", nav.sell)]
    for name, go in pages:
        go()
        fits_width(b.page)
        b.shot(b.page, name)
    nav.sell().manage_api_forms()
    fits_width(b.page)
    b.shot(b.page, "api-forms")
    nav.buy().buy("tbank", "1200")
    InvoicePage(b.page, t).expect_invoice("tbank", 1200_00)
    fits_width(b.page)
    b.shot(b.page, "invoice")
