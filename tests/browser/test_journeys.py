"""Browser journeys through the live system (Playwright + Debian's Chromium), clicking like a person.

Each journey opens one page with ``goto`` (the app's home page; the sandbox room,
standing in for the player's poker client, is another site a person opens
themselves) and reaches every other page by clicking what a person sees: links,
buttons, the provider's pay button and its own pay page, then back.  After every
step the journey is checked for what a person would notice (tests/browser/checks.py):
console and script errors, htmx error events, 5xx answers, a page nested in the
page, sideways scrolling on a phone.

The journeys run in one language and one viewport each; together they cover
Russian and English, desktop and phone.  Data a journey does not act out itself
(the seller whose dollars a buyer buys, a buyer's verified room account) is made
directly.  Key pages are saved as screenshots under test-artifacts/screenshots/.
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")

from tests.browser.checks import expect, unwrap  # noqa: E402
from tests.browser.conftest import PLATFORM  # noqa: E402
from tests.browser.pages import (  # noqa: E402
    InvoicePage,
    Navigation,
    RoomSandboxPage,
    Text,
    WalletPage,
    exact,
    open_first_page,
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
    from app.core.settings import current_settings
    from app.room.room_ingest import commission_for

    with system.context():
        return cents - commission_for(cents, current_settings())


def quote(system, kind: str, kopecks: int):
    from app.core.settings import current_settings
    from app.market import quotes

    with system.context():
        return quotes.quote(kind, kopecks, current_settings())


def seller_on_sale(system, kind: str = "tbank", dollars_cents: int = 500_00) -> str:
    """A seller (made directly, not through the browser) with ``kind`` API form and dollars for sale."""
    from app import ledger
    from app.market import payment_forms, withdrawals
    from tests.helpers import gen_user

    email = f"seller-{uuid.uuid4().hex[:8]}@example.com"
    with system.context():
        user = gen_user(email, password=PASSWORD)
        ledger.transfer(key=f"browser-fund:{uuid.uuid4().hex}",
                        debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                        credit=ledger.wallet_of(user.id), amount=dollars_cents, kind=ledger.TransferKind.ROOM_DEPOSIT)
        credentials = system.provider_account(kind)
        form = payment_forms.add_form(user, kind, f"{kind} of {email}", credentials)
        notify_at = payment_forms.notification_url(form)
        withdrawals.create(user, payment_form_id=form.id, amount=dollars_cents, min_invoice_kopecks=100_00,
                           max_invoice_kopecks=50_000_00, max_open_invoices=3, request_key=uuid.uuid4().hex)
    # What the seller pastes into the provider's cabinet (YooKassa and YooMoney notify the address set there).
    system.http.post(f"{system.providers_url}/_sandbox/providers/{kind}/accounts",
                     json={**credentials, "notification_url": notify_at}, timeout=5).raise_for_status()
    return email


def buyer_with_room_account(system, make_user, lang: str) -> tuple[str, str]:
    """A buyer whose room account is verified (made directly) and open in the room; the platform can pay it."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import User
    from app.room import room_accounts

    email = make_user("buyer", lang)
    identifier = f"buyer{uuid.uuid4().hex[:10]}"
    for account, balance in ((identifier, 0), (PLATFORM, 1_000_00)):  # the platform's float for the cash-out
        system.http.post(f"{system.room_url}/_sandbox/room/accounts", json={"account": account, "balance": balance},
                         timeout=5).raise_for_status()
    with system.context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        account = room_accounts.add_room_account(user, identifier)
        room_accounts.mark_verified(account, by="ops", reason="browser journey set-up")
    return email, identifier


def staff(system, role: str, lang: str) -> tuple[str, object]:
    """An ops person with two-factor sign-in; returns the e-mail and what their authenticator shows now."""
    from app.models import User
    from app.models.user import Role
    from tests.helpers import gen_user, totp_now

    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    with system.context():
        user_id = gen_user(email, role=Role(role), totp=True, locale=lang).id

    def code() -> str:
        from app.extensions import db

        with system.context():
            return totp_now(db.session.get(User, user_id))

    return email, code


def sign_in(browsing, system, email: str) -> Navigation:
    t = Text(browsing.lang)
    return open_first_page(browsing.page, system.url, t).login().sign_in(email, PASSWORD, account_lang=t.lang)


def deposit_id_of(page) -> int:
    return int(page.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1])


# -- 1. the seller -----------------------------------------------------------------------------


@variants(RU_DESKTOP, EN_PHONE)
def test_seller_journey(browsing, system):
    """Register, verify a room account by sending from the room, get credited live, add an API form of each
    provider, put dollars up for sale."""
    b = browsing
    t = Text(b.lang)
    email = f"seller-{uuid.uuid4().hex[:8]}@example.com"
    nav = open_first_page(b.page, system.url, t).register().register(email, PASSWORD)
    wallet = nav.wallet()
    identifier = f"player{uuid.uuid4().hex[:10]}"
    verification = wallet.add_room_account(identifier)
    b.shot(b.page, "wallet-account-added")

    wallet.watch_for_deposit()  # the seller says they are sending: the wallet starts polling
    b.page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    room_tab = b.new_page()
    room = RoomSandboxPage(room_tab).open(system.room_url)
    room.open_account(identifier, "500.00")
    room.transfer_to_platform(dollars(verification))  # proves the account is the seller's, and is credited
    room.transfer_to_platform("200.00")  # a deposit from the now verified account
    b.shot(room_tab, "room-transfers-sent")
    room_tab.close()

    wallet.expect_available(room_credit(system, verification) + room_credit(system, 200_00))
    assert b.page.evaluate("window.__sameDocument === true"), "the wallet reloaded instead of updating live"
    b.shot(b.page, "wallet-credited")

    wallet = nav.wallet()
    wallet.expect_verified(identifier)

    forms = nav.sell().manage_api_forms()
    names = {}
    for kind in ("tbank", "yookassa", "yoomoney"):
        names[kind] = f"{kind} {uuid.uuid4().hex[:6]}"
        forms.add(kind, names[kind], system.provider_account(kind))
        b.shot(b.page, f"api-form-{kind}-saved")
        if kind == "tbank":  # the bank account behind it takes at most 10 payments, 150,000 ₽ a day, at night
            forms.set_limits(rubles="150000", invoices="10", start="22:00", end="06:00", zone="Asia/Yekaterinburg")
            b.shot(b.page, "api-form-limits-saved")
        forms.back_to_list()
    for name in names.values():
        expect(b.page.get_by_role("link", name=exact(name))).to_be_visible()

    withdrawals = nav.sell().sell_dollars()
    card = withdrawals.put_up(names["tbank"], "150.00", "500", "15000")
    expect(card).to_contain_text(t.usd(150_00))
    expect(card.get_by_role("button", name=t("Pause"))).to_be_visible()
    b.shot(b.page, "request-on-sale")
    nav.sell()
    limited = b.page.locator("#form-health li").filter(has_text=names["tbank"])
    expect(limited).to_contain_text(t("Invoices today: %(used)s of %(limit)s", used=0, limit=10))
    expect(limited).to_contain_text(t("Rubles today: %(used)s of %(limit)s", used=t.rub(0), limit=t.rub(150_000_00)))
    expect(limited).to_contain_text(t("Working hours %(start)s–%(end)s (%(zone)s)", start="22:00", end="06:00",
                                      zone="Asia/Yekaterinburg"))
    expect(limited.locator("svg.chart-stacked")).to_have_count(2)
    b.shot(b.page, "seller-dashboard", readme=f"seller-dashboard-{b.viewport}")


# -- 2. the buyer, for each provider -----------------------------------------------------------


@pytest.mark.parametrize(("kind", "browsing"), [("tbank", RU_DESKTOP), ("yookassa", EN_PHONE),
                                                ("yoomoney", RU_PHONE)],
                         indirect=["browsing"], ids=["tbank-ru-desktop", "yookassa-en-phone", "yoomoney-ru-phone"])
def test_buyer_journey(browsing, system, make_user, kind):
    """Buy, click Pay, pay on the provider's own page, come back to see it settle, cash out to the room."""
    b = browsing
    seller = seller_on_sale(system, kind)
    email, identifier = buyer_with_room_account(system, make_user, b.lang)
    nav = sign_in(b, system, email)
    t = nav.t
    q = quote(system, kind, 1000_00)
    receives = q.usd_cents - q.buyer_fee_cents

    invoice = nav.buy().buy(kind, "1000")
    expect(invoice.heading("Purchase of %(usd)s", usd=t.usd(receives))).to_be_visible()
    invoice.expect_invoice(kind, 1000_00)
    assert seller not in b.page.content(), "the buyer must never see who the seller is"
    b.shot(b.page, "invoice", readme={"tbank": "invoice-desktop", "yookassa": "invoice-phone"}.get(kind))
    invoice_url = b.page.url

    provider = invoice.pay(kind)  # the provider's page, in this tab
    b.shot(b.page, "provider-pay-page")
    provider.pay()  # ... which sends the buyer back to the invoice
    expect(b.page).to_have_url(invoice_url)
    invoice.expect_settled(receives)
    b.shot(b.page, "settled", readme="settled-phone" if kind == "yoomoney" else None)
    assert seller not in b.page.content(), "the buyer must never see who the seller is"
    assert_settled_by_notification(system, deposit_id_of(b.page))

    wallet = invoice.open_wallet()
    wallet.expect_available(receives)
    b.shot(b.page, "wallet", readme={"tbank": "wallet-desktop", "yoomoney": "wallet-phone"}.get(kind))
    wallet.cash_out(identifier, dollars(receives))
    cash_outs = b.page.get_by_role("table").filter(has_text=identifier)
    expect(cash_outs.get_by_role("cell", name=t("sent"), exact=True)).to_be_visible(timeout=15_000)
    wallet.expect_available(0)

    room = RoomSandboxPage(b.new_page()).open(system.room_url)
    room.choose_account(identifier)
    expect(room.received(PLATFORM, dollars(receives))).to_be_visible()
    b.shot(room.page, "cash-out-in-the-room")


def assert_settled_by_notification(system, deposit_id: int) -> None:
    """The provider's notification reached the live app (PUBLIC_BASE_URL) and settled the invoice."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.models.market import Deposit
    from app.models.provider_event import ProviderEvent

    with system.context():
        deposit = db.session.get(Deposit, deposit_id)
        assert deposit.status == "settled"
        events = db.session.scalars(sa.select(ProviderEvent).where(
            ProviderEvent.payment_form_id == deposit.payment_form_id,
            ProviderEvent.provider_payment_id == deposit.provider_payment_id)).all()
        assert any(e.processed_at is not None for e in events), "settled without the provider's notification"


# -- 2b. one purchase, two sellers --------------------------------------------------------------


@variants(RU_DESKTOP, EN_PHONE)
def test_split_purchase_journey(browsing, system, make_user):
    """A purchase no single seller takes: offered as two payments, accepted by clicking, two invoices with
    their own pay buttons; one paid on the provider's page settles while the other is still open."""
    b = browsing
    first_seller = seller_on_sale(system, "tbank", dollars_cents=62_50)  # 6,000 ₽ at 96 ₽ per dollar
    seller_on_sale(system, "tbank", dollars_cents=100_00)  # 9,600 ₽
    nav = sign_in(b, system, make_user("splitter", b.lang))
    t = nav.t
    first = quote(system, "tbank", 6_000_00)

    offer = nav.buy().ask_split("tbank", "10000")
    expect(offer.parts()).to_have_text(t.plural("%(num)d payment: %(parts)s", "%(num)d payments: %(parts)s", 2,
                                                parts=f"{t.rub(6_000_00)} + {t.rub(4_000_00)}"))
    b.shot(b.page, "split-offer")
    split = offer.accept()
    split.expect_parts([6_000_00, 4_000_00], "tbank")
    assert first_seller not in b.page.content(), "the buyer must never see who the sellers are"
    b.shot(b.page, "split-invoices")

    provider = split.pay(6_000_00, "tbank")  # the first part's pay page, in this tab
    provider.pay()  # ... which sends the buyer back to that part's own invoice
    invoice = InvoicePage(b.page, t)
    invoice.expect_settled(first.usd_cents - first.buyer_fee_cents)
    split = invoice.back_to_split()
    expect(split.part_status(1, "done")).to_be_visible(timeout=15_000)
    expect(split.part_status(2, "waiting for payment")).to_be_visible()
    expect(split.pay_link(4_000_00, "tbank")).to_be_visible()  # the other part is still open, payable
    expect(split.pay_link(6_000_00, "tbank")).to_have_count(0)
    expect(split.total()).to_contain_text(t("Paid so far: %(paid)s of %(total)s", paid=t.rub(6_000_00),
                                            total=t.rub(10_000_00)))
    b.shot(b.page, "split-one-paid")


# -- 3. "I have paid" and "Cancel the invoice" -------------------------------------------------


@variants(EN_DESKTOP)
def test_invoice_actions(browsing, system, make_user):
    """Both buttons answer with the invoice page itself (never a page nested in its card); cancel offers a retry."""
    b = browsing
    seller_on_sale(system, "tbank")
    nav = sign_in(b, system, make_user("claimer", b.lang))
    invoice = nav.buy().buy("tbank", "800")
    invoice.expect_invoice("tbank", 800_00)

    invoice.claim_paid()
    invoice.expect_invoice("tbank", 800_00)  # still payable: the claim only asks the provider again
    b.shot(b.page, "claimed-paid")
    invoice.cancel()
    b.shot(b.page, "cancelled")

    again = invoice.start_again()
    expect(again.method("tbank")).to_be_checked()
    expect(again.amount()).to_have_value("800")


@variants(EN_DESKTOP)
def test_invoice_status_is_pushed_and_polled_when_the_push_drops(browsing, system, make_user):
    """While the push connection is open the page sends no polls and a change arrives by push; with the
    push process gone the page polls again and a change is on screen within the poll interval; when it is
    back the page listens again."""
    import re
    import time

    import sqlalchemy as sa

    from app.extensions import db
    from app.market import invoices
    from app.models import User
    from app.web.deposits.polling import POLL_SECONDS

    b = browsing
    seller_on_sale(system, "tbank")
    email = make_user("watcher", b.lang)
    nav = sign_in(b, system, email)
    invoice = nav.buy().buy("tbank", "700")
    invoice.expect_invoice("tbank", 700_00)
    deposit_id = deposit_id_of(b.page)
    status = b.page.locator("#deposit-status")
    asks = []  # the page's requests for its own fragment: polls, or the fetch a push asked for
    fragment = re.compile(rf"/buy/{deposit_id}\?v=")
    unwrap(b.page).on("request", lambda r: asks.append(time.monotonic()) if fragment.search(r.url) else None)

    def quiet_for(seconds: float) -> None:
        """No request for the fragment in ``seconds`` (two poll intervals and more): the poll is off."""
        expect(status).to_have_attribute("data-push-live", "")
        before = len(asks)
        unwrap(b.page).wait_for_timeout(seconds * 1000)
        assert len(asks) == before, f"{len(asks) - before} polls while the push connection was open"

    def change(service) -> float:
        with system.context():
            service(db.session.scalar(sa.select(User).where(User.email == email)))
        return time.monotonic()

    quiet_for(2.5 * POLL_SECONDS)

    with b.watch.tolerating(system.push.url):  # its connections fail while it is down: on purpose
        system.push.stop()  # every push connection drops at once, as when the process dies
        try:
            expect(status).not_to_have_attribute("data-push-live", "")
            changed_at = change(lambda buyer: invoices.claim_paid(buyer, deposit_id))
            expect(b.page.locator("#claim-paid")).to_have_count(0, timeout=(POLL_SECONDS + 1.5) * 1000)
            seen_after = time.monotonic() - changed_at
            assert seen_after <= POLL_SECONDS + 1.5, seen_after
        finally:
            system.push.start()
        expect(status).to_have_attribute("data-push-live", "")  # the page's EventSource is back by itself

    quiet_for(2.5 * POLL_SECONDS)  # listening again: the poll is off again
    before = len(asks)
    change(lambda buyer: invoices.expire(deposit_id))
    expect(status).to_have_attribute("data-status", "expired")
    assert len(asks) - before == 1  # the one fetch the push asked for
    b.shot(b.page, "expired-by-push")


# -- 4. an expired invoice, a dispute, the ops decision ----------------------------------------


@variants(RU_PHONE)
def test_expired_invoice_dispute(browsing, second_browser, system, make_user):
    """The buyer said they paid, the invoice expired, the buyer disputes and attaches a PNG receipt, the seller
    (another browser) answers in the same thread, ops see both beside the provider's record and decide, the buyer
    sees the decision."""
    import sqlalchemy as sa

    from app.database import utcnow
    from app.extensions import db
    from app.market.invoices import CLAIM_GRACE
    from app.models.market import Deposit
    from tests.market.dispute_world import png_bytes

    b = browsing
    seller_email = seller_on_sale(system, "tbank")
    nav = sign_in(b, system, make_user("late-buyer", b.lang))
    invoice = nav.buy().buy("tbank", "750")
    invoice.expect_invoice("tbank", 750_00)
    invoice.claim_paid()
    deposit_id = deposit_id_of(b.page)

    # The shortest lifetime the settings allow is a minute and the dispute waits ten after the claim:
    # move both into the past instead of waiting.
    with system.context():
        now = utcnow()
        db.session.execute(sa.update(Deposit).where(Deposit.id == deposit_id).values(
            expires_at=now - timedelta(seconds=1), buyer_claimed_paid_at=now - CLAIM_GRACE - timedelta(minutes=1)))
    system.background.enqueue("app.jobs.invoices.sweep_invoices")

    invoice.expect_expired()  # live: the invoice page polls
    b.shot(b.page, "expired")
    invoice.open_dispute("Оплатил по СБП, деньги списаны")
    b.shot(b.page, "dispute-opened")
    thread = invoice.open_dispute_thread()
    thread.attach("bank-receipt.png", "image/png", png_bytes(4, 4))
    thread.write("Чек из банка")
    thread.send()
    expect(thread.message("Чек из банка").get_by_role("link", name=Text(b.lang)("Download the file"))).to_be_visible()
    b.shot(b.page, "dispute-receipt")

    seller = second_browser(*RU_DESKTOP)
    answer = sign_in(seller, system, seller_email).sell().answer_dispute()
    expect(answer.message("Чек из банка")).to_be_visible()  # the buyer's receipt, in the one thread
    answer.write("В кабинете Т-Банка этой оплаты нет")
    answer.send()
    expect(answer.message("В кабинете Т-Банка этой оплаты нет")).to_be_visible()
    seller.shot(seller.page, "dispute-answer")
    # the buyer's page is live: the seller's answer appears without a reload
    expect(thread.message("В кабинете Т-Банка этой оплаты нет")).to_be_visible(timeout=15_000)

    ops = second_browser(*EN_DESKTOP)
    email, code = staff(system, "ops", ops.lang)
    area = open_first_page(ops.page, system.url, Text(ops.lang)).login().sign_in_with_code(email, PASSWORD, code).ops()
    area.open_dispute(deposit_id)
    both = area.dispute_thread()
    expect(both.message("Чек из банка").get_by_role("link", name=Text(ops.lang)("Download the file"))).to_be_visible()
    expect(both.message("В кабинете Т-Банка этой оплаты нет")).to_be_visible()
    ops.shot(ops.page, "dispute")
    reason = "The provider has no payment for this invoice"
    area.decide("Not paid: reject (the seller keeps the dollars)", reason)
    expect(area.flash("Rejected: the seller's dollars are released.")).to_be_visible()

    invoice = thread.back_to_purchase().my_purchases().open_latest()
    expect(invoice.heading("The payment was not confirmed")).to_be_visible()
    # the decision and the reason ops gave, as ops wrote it
    expect(invoice.page.locator("#dispute-reason")).to_have_text(reason)
    b.shot(b.page, "dispute-decided")
    # the seller sees the same decision in the conversation, which no longer takes messages
    answer.page.reload()  # a person's refresh of the page they left open
    expect(answer.page.locator("#dispute-reason")).to_have_text(reason)
    expect(answer.button("Send")).to_have_count(0)


# -- 5. the ops area ---------------------------------------------------------------------------


@variants(RU_DESKTOP)
def test_ops_area(browsing, system):
    """An admin signs in with a second factor and opens every section of the ops area."""
    b = browsing
    t = Text(b.lang)
    email, code = staff(system, "admin", b.lang)
    area = open_first_page(b.page, system.url, t).login().sign_in_with_code(email, PASSWORD, code).ops()
    b.shot(b.page, "ops-dashboard", readme="ops-dashboard-desktop")
    sections = area.sections()
    assert t("Settings") in sections and t("Disputes") in sections, sections
    for name in sections:
        area.open(name)
        b.shot(b.page, f"ops-{sections.index(name):02d}")


# -- 6. language switch ------------------------------------------------------------------------


@variants(EN_PHONE)
def test_language_switch(browsing, system, make_user):
    """Switch before signing in (kept in the session) and after (saved on the account)."""
    b = browsing
    t = Text(b.lang)
    email = make_user("polyglot", b.lang)
    nav = open_first_page(b.page, system.url, t)  # an English journey has switched already
    login = nav.login()
    b.shot(b.page, f"login-{t.lang}")
    other = nav.switch_language()
    login = type(login)(b.page, other)
    expect(login.heading("Sign in")).to_be_visible()
    b.shot(b.page, f"login-{other.lang}")

    nav = login.sign_in(email, PASSWORD, account_lang=t.lang)  # the account's saved language wins
    wallet = nav.wallet()
    b.shot(b.page, f"wallet-{t.lang}")

    t2 = nav.switch_language()
    expect(wallet.heading("Wallet").first).to_be_hidden()
    expect(WalletPage(b.page, t2).heading("Wallet")).to_be_visible()
    b.shot(b.page, f"wallet-{t2.lang}")
    b.page.reload()  # a person's refresh: the choice is saved on the account
    expect(WalletPage(b.page, t2).heading("Wallet")).to_be_visible()


# -- 7. proof of reserves ----------------------------------------------------------------------


def publish_reserves(system, make_user, lang: str) -> tuple[str, int]:
    """A user with dollars, and a snapshot published by ops with `flask reserves publish` (room read over HTTP)."""
    import sqlalchemy as sa

    from app import ledger
    from app.extensions import db
    from app.models import User

    email = make_user("holder", lang)
    with system.context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        ledger.transfer(key=f"browser-reserves:{uuid.uuid4().hex}",
                        debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                        credit=ledger.wallet_of(user.id), amount=42_00, kind=ledger.TransferKind.ROOM_DEPOSIT)
        user_id = user.id
    ops_email, _code = staff(system, "ops", lang)
    result = system.app.test_cli_runner().invoke(args=["reserves", "publish", "--by", ops_email])
    assert result.exit_code == 0, result.output
    return email, user_id


@variants(RU_DESKTOP)
def test_proof_of_reserves_from_the_wallet(browsing, system, make_user, tmp_path):
    """A user clicks from the wallet to their proofs, downloads the newest, and the standalone script accepts it."""
    import json

    from tests.reserves.verifier import run

    b = browsing
    email, user_id = publish_reserves(system, make_user, b.lang)
    nav = sign_in(b, system, email)
    proofs = nav.wallet().proof_of_reserves()
    b.shot(b.page, "my-proofs")
    download = proofs.download_latest()
    proof = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert proof["leaf"]["user_id"] == user_id and proof["leaf"]["balance"] == 42_00
    public = proofs.public_page()
    expect(public.root_hash()).to_have_text(proof["root"]["hash"])
    status, output = run(proof, tmp_path, public_key=public.public_key().inner_text())
    assert status == 0, output
    b.shot(b.page, "reserves-public")


@variants(EN_PHONE)
def test_proof_of_reserves_is_public(browsing, system, make_user, tmp_path):
    """Someone who never signed in reaches the reserves page from the home page's footer and gets the verifier."""
    b = browsing
    publish_reserves(system, make_user, b.lang)
    nav = open_first_page(b.page, system.url, Text(b.lang))
    reserves = nav.reserves_from_footer()
    expect(reserves.root_hash()).to_be_visible()
    b.shot(b.page, "reserves-public")
    script = reserves.download_verifier()
    assert "def ed25519_verify" in Path(script.path()).read_text(encoding="utf-8")
# -- 7. Telegram without a chat id ------------------------------------------------------------


@variants(RU_DESKTOP, EN_PHONE)
def test_telegram_link(browsing, system, make_user):
    """Click "Connect Telegram", press Start in Telegram (the sandbox bot), see "connected" appear, disconnect."""
    import re
    import time

    b = browsing
    t = Text(b.lang)
    email = make_user("telegram", b.lang)
    nav = sign_in(b, system, email)
    channels = nav.notifications().channels()
    link = channels.connect_telegram()
    found = re.fullmatch(r"https://t\.me/(\w+)\?start=([A-Za-z0-9_-]{32})", link)
    assert found and found.group(1) == system.telegram.username, link
    b.shot(b.page, "telegram-waiting")
    b.page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    chat_id = 700_000 + int(uuid.uuid4().int % 100_000)
    pressed = system.telegram.write(chat_id, start=found.group(2), language_code=b.lang)  # Start, in Telegram
    assert pressed["webhook_statuses"] == [200]
    channels.expect_linked()
    assert b.page.evaluate("window.__sameDocument === true"), "the page reloaded instead of updating live"
    b.shot(b.page, "telegram-linked")
    deadline = time.monotonic() + 15
    while not [m for m in system.telegram.messages if m["chat"]["id"] == chat_id] and time.monotonic() < deadline:
        time.sleep(0.2)  # the bot's answer goes out from the worker, after the webhook's commit
    [answer] = [m["text"] for m in system.telegram.messages if m["chat"]["id"] == chat_id]
    assert answer.startswith(t("Done: PokerPay notifications will come to this chat. To stop them, press "
                               "“Disconnect” in Notification channels.")[:20])

    channels.disconnect()
    b.shot(b.page, "telegram-disconnected")


# -- the rule the journeys keep ---------------------------------------------------------------


def test_only_first_pages_are_opened_by_address():
    """Two ``goto`` calls in the whole suite, both in pages.py: the app's home page and the room's own page."""
    from pathlib import Path

    needle = ".go" + "to("  # spelled apart so that this line is not one of them
    found = [(path.name, number) for path in sorted(Path(__file__).parent.glob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line]
    assert [name for name, _ in found] == ["pages.py", "pages.py"], found

