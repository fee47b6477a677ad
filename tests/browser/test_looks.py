"""How the main pages look at 1280×800 and 390×844: measured in the browser, saved as screenshots
(test-artifacts/screenshots/looks/).

Each check is what a person saw go wrong (issue 17, "Looks"): the seller's progress bars, the buy page's
method labels, the wallet chart, the bell, the phone menu, clipped tables, ops tables wider than their card.

As in the journeys, each person's browser opens only the home page by address and signs in through the
login form (ops with their second factor); every other page is reached by clicking what a person sees, and
every step is followed by the journeys' check (tests/browser/checks.py).
"""
from __future__ import annotations

import re
import uuid

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")

from tests.browser.checks import Watch, expect  # noqa: E402
from tests.browser.pages import Navigation, OpsArea, Screen, Text, exact, open_first_page  # noqa: E402
from tests.helpers import PASSWORD  # noqa: E402

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
T = Text("ru")


def _fund(user_id: int, cents: int) -> None:
    from app import ledger

    ledger.transfer(key=f"looks-fund:{uuid.uuid4().hex}", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                    credit=ledger.wallet_of(user_id), amount=cents, kind=ledger.TransferKind.ROOM_DEPOSIT)


def _on_sale(live, seller_id: int, form_id: int) -> None:
    from app.extensions import db
    from app.market import withdrawals
    from app.models import User

    with live.context():
        withdrawals.create(db.session.get(User, seller_id), payment_form_id=form_id, amount=800_00,
                           min_invoice_kopecks=100_00, max_invoice_kopecks=50_000_00, max_open_invoices=3,
                           request_key=uuid.uuid4().hex)


@pytest.fixture(scope="module")
def people(live):
    """A seller with a T-Bank form, a buyer with a balance, an ops user with 2FA (e-mails and ids)."""
    from app.market import payment_forms
    from tests.helpers import gen_user

    tag = uuid.uuid4().hex[:6]
    emails = {"seller": f"looks-seller-{tag}@example.com", "buyer": f"looks-buyer-{tag}@example.com"}
    with live.context():
        seller = gen_user(emails["seller"], password=PASSWORD)
        _fund(seller.id, 2_000_00)
        form = payment_forms.add_form(seller, "tbank", "T-Bank looks", live.provider_account("tbank"))
        buyer = gen_user(emails["buyer"], password=PASSWORD)
        _fund(buyer.id, 123_45)
        _fund(buyer.id, 10_00)
        ids = {"seller": seller.id, "form": form.id, "buyer": buyer.id}
    return {**emails, "ids": ids}


def _ops_user(system) -> tuple[str, object]:
    """A fresh ops person each time (a TOTP code is accepted once, and two sign-ins may share one)."""
    from app.extensions import db
    from app.models import Role, User
    from tests.helpers import gen_user, totp_now

    email = f"looks-ops-{uuid.uuid4().hex[:6]}@example.com"
    with system.context():
        user_id = gen_user(email, password=PASSWORD, role=Role.OPS, totp=True).id

    def code() -> str:
        with system.context():
            return totp_now(db.session.get(User, user_id))

    return email, code


@pytest.fixture
def browsers(chromium, system, people):
    """``open(role, size)`` → the signed-in navigation of a new browser in that viewport (Russian): the home
    page opened by address, then the login form (and the second factor for ops)."""
    contexts = []

    def open_browser(role: str, size: str) -> Navigation:
        phone = size == "phone"
        context = chromium.new_context(locale="ru-RU", viewport=SIZES[size], is_mobile=phone, has_touch=phone)
        contexts.append((context, watch := Watch(context, system.url, phone=phone)))
        page = watch.page(context.new_page())
        login = open_first_page(page, system.url, T).login()
        if role == "ops":
            email, code = _ops_user(system)
            nav = login.sign_in_with_code(email, PASSWORD, code)
        else:
            nav = login.sign_in(people[role], PASSWORD, account_lang="ru")
        assert "/login" not in page.url, f"{role} is not signed in: {page.url}"
        return nav

    yield open_browser
    for context, watch in contexts:
        try:
            watch.finish()
        finally:
            context.close()


def _shot(page, name: str):
    from tests.browser.conftest import SCREENSHOTS

    folder = SCREENSHOTS / "looks"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True, caret="initial")


def _box(locator) -> dict:
    box = locator.bounding_box()
    if not box:
        _shot(locator.page, "FAILED")
    assert box, f"{locator} is not on screen"
    return box


def _page_fits(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url} is {widths[0]} px wide in a {widths[1]} px window"


def _tables_fit(page) -> None:
    """No table is cut off inside its scroll box (a phone shows every column without scrolling)."""
    clipped = page.evaluate("""[...document.querySelectorAll('.table-wrap')]
        .filter(w => w.offsetParent && w.scrollWidth > w.clientWidth + 1)
        .map(w => `${w.closest('article, section')?.id || w.innerText.slice(0, 40)} (${w.scrollWidth} px in `
                  + `${w.clientWidth} px; columns ${[...w.querySelectorAll('tr:first-child > *')]
                    .map(c => Math.round(c.getBoundingClientRect().width)).join('+')})`)""")
    assert not clipped, f"tables wider than their card on {page.url}: {clipped}"


def _check_header(page, size: str) -> None:
    """One row of header; the bell is an SVG icon, not an emoji; on a phone the sections are behind a menu."""
    t = Text("ru")
    nav = page.get_by_role("navigation", name=t("Main navigation"))
    boxes = page.evaluate("""[...document.querySelectorAll('header nav li, header nav details, header nav summary, header nav .nav-links, header nav')].map(e => [e.tagName, e.className, Math.round(e.getBoundingClientRect().top), Math.round(e.getBoundingClientRect().height), getComputedStyle(e).marginBottom, getComputedStyle(e).paddingTop])""")
    assert _box(nav)["height"] < 80, f"the header wraps into two rows: {boxes}"
    bell = page.locator("#notification-bell-slot")
    expect(bell.locator("svg.icon")).to_be_visible()
    assert "🔔" not in bell.inner_text()
    wallet_link = nav.get_by_role("link", name=t("Wallet"), exact=True)
    if size == "phone":
        expect(wallet_link).to_be_hidden()
        nav.locator("details.nav-menu > summary").click()
        expect(wallet_link).to_be_visible()
        expect(nav.get_by_role("button", name=t("Sign out"))).to_be_visible()
        nav.locator("details.nav-menu > summary").click()
        expect(wallet_link).to_be_hidden()
    else:
        expect(wallet_link).to_be_visible()
        expect(nav.locator("details.nav-menu > summary")).to_be_hidden()


def _check_chart(page, card: str) -> None:
    """The chart fills its card, its labels are page text of a readable size, the plot has no SVG text."""
    figure = page.locator(f"{card} figure.chart")
    card_box, figure_box = _box(page.locator(card)), _box(figure)
    plot_box = _box(figure.locator("svg.chart-plot"))
    assert figure_box["width"] >= 0.9 * card_box["width"], (figure_box, card_box)  # full width, not half
    assert plot_box["width"] >= 0.7 * figure_box["width"], (plot_box, figure_box)  # the scale takes little
    assert figure.locator("svg text").count() == 0
    size = page.evaluate("el => parseFloat(getComputedStyle(el).fontSize)", figure.locator(".chart-x span").first.element_handle())
    assert size >= 12, f"chart labels are {size} px"


def _click_link(page, msgid: str, heading: str) -> None:
    """Follow a link on the page by its text; the page reached shows ``heading``."""
    screen = Screen(page, T)
    screen.link(msgid).first.click()
    expect(screen.heading(heading).first).to_be_visible()


def _looks_fine(page, name: str) -> None:
    _shot(page, name)  # first: a failure below has its picture
    _page_fits(page)
    _tables_fit(page)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_main_pages_look_right(browsers, system, people, size):
    """Header, wallet chart, buy page, pay button, seller's bars and tables, ops tables: as a person sees them."""
    t = T
    _on_sale(system, people["ids"]["seller"], people["ids"]["form"])

    # -- the buyer ---------------------------------------------------------------------------------------
    nav = browsers("buyer", size)
    buyer = nav.page
    nav.wallet()
    _check_header(buyer, size)
    _check_chart(buyer, "#balance-chart")
    available = buyer.locator("#balance-available").inner_text()
    last = buyer.locator("#balance-chart .chart-x span").last.inner_text()
    assert last.endswith(available), f"the chart ends on {last!r}, the page shows {available!r}"
    _looks_fine(buyer, f"wallet-{size}")

    _click_link(buyer, "Full history", "History")
    _looks_fine(buyer, f"buyer-wallet-history-{size}")

    deposit = nav.buy()
    method = buyer.locator("label.method").first
    name, terms = _box(method.locator(".method-name")), _box(method.locator(".method-terms"))
    assert name["y"] + name["height"] <= terms["y"] + 1, f"the method's terms overlap its name: {name} {terms}"
    _page_fits(buyer)
    _shot(buyer, f"buy-{size}")

    deposit.buy("tbank", "1200")
    expect(buyer.get_by_text(t("Pay exactly"))).to_be_visible(timeout=15_000)
    pay = buyer.locator("#pay-button")
    one_line = buyer.evaluate("el => [el.scrollWidth <= el.clientWidth, el.getClientRects().length,"
                              " Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight))]",
                              pay.element_handle())
    assert one_line[0] and one_line[2] <= 2, f"the pay button is clipped or wraps: {one_line}"  # height: a line + padding
    _page_fits(buyer)
    _shot(buyer, f"invoice-{size}")

    nav.buy()
    _click_link(buyer, "My purchases", "Purchases")
    _looks_fine(buyer, f"buyer-buy-history-{size}")

    nav.bar().get_by_role("link", name=re.compile("^" + re.escape(t("Notifications")))).click()  # the bell
    expect(Screen(buyer, t).heading("Notifications")).to_be_visible()
    _looks_fine(buyer, f"buyer-notifications-{size}")

    nav.go("Account")
    expect(Screen(buyer, t).heading("Account")).to_be_visible()
    _looks_fine(buyer, f"buyer-account-{size}")

    # -- the seller --------------------------------------------------------------------------------------
    nav = browsers("seller", size)
    seller_page = nav.page
    seller = nav.sell()
    bar = seller_page.locator("svg.chart-stacked").first
    bar_box, card_box = _box(bar), _box(seller_page.locator(".withdrawal").first)
    assert bar_box["height"] <= 16 and bar_box["width"] >= 0.9 * card_box["width"], (bar_box, card_box)
    legend = seller_page.locator(".withdrawal .legend").first
    assert seller_page.evaluate("el => getComputedStyle(el, '::before').content", legend.element_handle()) in ("none", "normal")
    expect(legend.locator(".swatch")).to_have_count(3)
    expect(seller_page.locator("#open-invoices tbody tr").first).to_be_visible()
    _looks_fine(seller_page, f"seller-{size}")

    seller.sell_dollars()
    _looks_fine(seller_page, f"seller-withdrawals-{size}")
    forms = nav.sell().manage_api_forms()
    _looks_fine(seller_page, f"seller-api-forms-{size}")
    seller_page.get_by_role("link", name=exact("T-Bank looks")).click()
    expect(forms.heading("Notification address")).to_be_visible()
    _looks_fine(seller_page, f"seller-api-form-{size}")  # the long notification address wraps on a phone

    # -- ops: every tab of the ops area, and the pages behind the Ledger's and the Room's links ------------
    nav = browsers("ops", size)
    ops = nav.page
    area: OpsArea = nav.ops()
    sections = area.sections()
    assert {t("Queue"), t("Invoices"), t("Ledger"), t("Room"), t("Disputes")} <= set(sections), sections
    for number, section in enumerate(sections):
        area.open(section)
        _page_fits(ops)  # a wide table scrolls inside its card (the queue page was 2,052 px wide)
        _shot(ops, f"ops-{number:02d}-{size}")
        if section == t("Ledger"):
            _click_link(ops, "Transfer search", "Transfers")
            kinds = ops.locator(".admin-area table tbody").inner_text()
            assert "purchase_hold" not in kinds and "room_deposit" not in kinds and "single" not in kinds, kinds[:300]
            _page_fits(ops)
            _shot(ops, f"ops-{number:02d}-transfers-{size}")
        elif section == t("Room"):
            Screen(ops, t).link("Reconciliation report").click()
            for _ in range(2):  # two runs: the chart has lines
                with ops.expect_response(lambda r: r.request.method == "POST"):
                    Screen(ops, t).button("Reconcile now").click()
                expect(ops.locator("#flash .flash")).to_be_visible()
            ops.wait_for_load_state("networkidle")
            expect(ops.locator("main figure.chart")).to_be_visible()
            _check_chart(ops, "main")
            _page_fits(ops)
            _shot(ops, f"ops-{number:02d}-reconciliation-{size}")
