"""Page objects: every selector the browser journeys use, in one place.

Selectors are roles, labels and visible text, written as the English msgids and
translated through the app's own compiled catalogue (``Text``), so one list
serves both languages and a reworded button needs one edit here (or none: the
msgid changes in the template and in this file together).  Ids are used only
for values that have no accessible name of their own (the balance figures).

Only ``open_first_page`` (the app's home page) and ``RoomSandboxPage.open``
(the player's own poker client, another site) call ``goto``: every other page
is reached by clicking what a person sees.  The pages are ``checks.Checked``
pages, so every click, fill and assertion here ends with the journey's check.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from playwright.sync_api import Locator, Page

from app.connectors.payments.base import CREDENTIAL_FIELDS
from app.market.payment_forms import KIND_LABELS
from app.money import format_rub, format_usd
from tests.browser.checks import expect

TRANSLATIONS = Path(__file__).resolve().parents[2] / "app" / "translations"
#: how long live (HTMX-polled) parts may take to change: a poll interval or two plus the work behind it
LIVE_TIMEOUT = 15_000


@cache
def _catalogue(lang: str):
    if lang == "en":
        return NullTranslations()
    catalogue = Translations.load(str(TRANSLATIONS), [lang])
    if not isinstance(catalogue, Translations):
        raise RuntimeError(f"no compiled {lang} catalogue in {TRANSLATIONS}: run `make translations`")
    return catalogue


class Text:
    """The interface's words in one language: ``t("Add account")`` is what the page shows."""

    def __init__(self, lang: str):
        self.lang = lang

    def __call__(self, msgid: str, **values) -> str:
        text = _catalogue(self.lang).gettext(msgid)
        return text % values if values else text

    def plural(self, msgid: str, msgid_plural: str, n: int, **values) -> str:
        """``ngettext``: "2 payments: …" is "2 платежа: …" in Russian."""
        return _catalogue(self.lang).ngettext(msgid, msgid_plural, n) % {"num": n, **values}

    def usd(self, cents: int) -> str:
        return format_usd(cents, self.lang)

    def rub(self, kopecks: int) -> str:
        return format_rub(kopecks, self.lang)


def _escape(text: str) -> str:
    """``re.escape`` for patterns Playwright hands to JavaScript (which reads "/" as the pattern's end)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\/-])", r"\\\1", text)


def containing(text: str) -> re.Pattern:
    return re.compile(_escape(text))


def exact(text: str) -> re.Pattern:
    """A whole accessible name, ignoring the white space around it."""
    return re.compile(rf"^\s*{_escape(text)}\s*$")


def open_first_page(page: Page, base_url: str, t: Text) -> Navigation:
    """The one ``goto`` of a journey in the app: its home page, as a person types the address.

    The app starts in Russian; an English journey switches the language as a person would.
    """
    page.goto(base_url + "/")
    nav = Navigation(page, Text("ru"))
    expect(nav.bar()).to_be_visible()
    if t.lang != "ru":
        nav.switch_language()
    return Navigation(page, t)


class Screen:
    def __init__(self, page: Page, t: Text):
        self.page = page
        self.t = t

    def heading(self, msgid: str, **values) -> Locator:
        return self.page.get_by_role("heading", name=self.t(msgid, **values))

    def button(self, msgid: str, **values) -> Locator:
        return self.page.get_by_role("button", name=exact(self.t(msgid, **values)))

    def link(self, msgid: str, **values) -> Locator:
        return self.page.get_by_role("link", name=exact(self.t(msgid, **values)))

    def flash(self, msgid: str, **values) -> Locator:
        return self.page.get_by_role("status").get_by_text(self.t(msgid, **values))


class Navigation(Screen):
    """The header: main sections, language switch, sign in / register / sign out."""

    def bar(self) -> Locator:
        return self.page.get_by_role("navigation", name=self.t("Main navigation"))

    def open_menu(self) -> None:
        """On a phone the sections fold into a menu: open it, as a person would (wider screens show them)."""
        toggle = self.bar().locator("details.nav-menu:not([open]) > summary")
        if toggle.is_visible():
            toggle.click()

    def go(self, msgid: str) -> None:
        self.open_menu()
        self.bar().get_by_role("link", name=exact(self.t(msgid))).click()

    def wallet(self) -> WalletPage:
        self.go("Wallet")
        page = WalletPage(self.page, self.t)
        expect(page.heading("Wallet")).to_be_visible()
        return page

    def buy(self) -> DepositPage:
        self.go("Buy")
        page = DepositPage(self.page, self.t)
        expect(page.heading("Buy game dollars")).to_be_visible()
        return page

    def sell(self) -> SellerPage:
        self.go("Sell")
        page = SellerPage(self.page, self.t)
        expect(page.heading("Sell game dollars")).to_be_visible()
        return page

    def ops(self) -> OpsArea:
        self.go("Ops")
        area = OpsArea(self.page, self.t)
        expect(area.bar()).to_be_visible()
        return area

    def notifications(self) -> NotificationsPage:
        """The bell in the header (its name carries the unread count, if any)."""
        self.bar().get_by_role("link", name=containing(self.t("Notifications"))).first.click()
        page = NotificationsPage(self.page, self.t)
        expect(page.heading("Notifications")).to_be_visible()
        return page

    def login(self) -> LoginPage:
        self.go("Sign in")
        page = LoginPage(self.page, self.t)
        expect(page.heading("Sign in")).to_be_visible()
        return page

    def register(self) -> RegisterPage:
        self.go("Register")
        page = RegisterPage(self.page, self.t)
        expect(page.heading("Create an account")).to_be_visible()
        return page

    def language_button(self) -> Locator:
        """The one-click switch to the other language (its name is in the language it switches to)."""
        name = "Switch to English" if self.t.lang == "ru" else "Переключить на русский"
        return self.page.get_by_role("button", name=name)

    def switch_language(self) -> Text:
        self.language_button().click()
        other = Text("en" if self.t.lang == "ru" else "ru")
        expect(self.page.locator("html")).to_have_attribute("lang", other.lang)
        return other

    def reserves_from_footer(self) -> ReservesPage:
        """The footer's "Proof of reserves" link, on every page, signed in or not."""
        self.page.get_by_role("contentinfo").get_by_role("link", name=exact(self.t("Proof of reserves"))).click()
        page = ReservesPage(self.page, self.t)
        expect(page.heading("Proof of reserves")).to_be_visible()
        return page

    def signed_in(self) -> Navigation:
        # signed in: the header has the sign-out button (folded into the menu on a phone)
        expect(self.bar().get_by_role("button", name=exact(self.t("Sign out")), include_hidden=True)).to_be_attached()
        return self


class LoginPage(Screen):
    def sign_in(self, email: str, password: str, account_lang: str | None = None) -> Navigation:
        """Sign in; the pages then speak the account's saved language (``account_lang``, else this page's)."""
        self.fill_in(email, password)
        nav = Navigation(self.page, Text(account_lang) if account_lang else self.t)
        return nav.signed_in()

    def fill_in(self, email: str, password: str) -> None:
        self.page.get_by_label(self.t("E-mail")).fill(email)
        self.page.get_by_label(self.t("Password")).fill(password)
        self.button("Sign in").click()

    def sign_in_with_code(self, email: str, password: str, code) -> Navigation:
        """Sign in with a second factor: ``code()`` is what the authenticator app shows now."""
        self.fill_in(email, password)
        expect(self.heading("Two-factor authentication")).to_be_visible()
        self.page.get_by_label(self.t("Code from the authenticator app")).fill(code())
        self.button("Confirm").click()
        return Navigation(self.page, self.t).signed_in()


class RegisterPage(Screen):
    def register(self, email: str, password: str) -> Navigation:
        self.page.get_by_label(self.t("E-mail")).fill(email)
        self.page.get_by_label(re.compile("^" + _escape(self.t("Password")))).fill(password)  # its hint follows
        self.page.get_by_label(self.t("Repeat the password")).fill(password)
        language = self.page.get_by_label(self.t("Language"))
        language.select_option(self.t.lang)
        self.button("Create account").click()
        return Navigation(self.page, self.t).signed_in()


class WalletPage(Screen):
    def available(self) -> Locator:
        return self.page.locator("#balance-available")

    def room_accounts(self) -> Locator:
        return self.page.get_by_role("article").filter(has=self.heading("Your room accounts"))

    def add_room_account(self, identifier: str) -> int:
        """Register a room account; returns the verification amount the page asks to send, in cents."""
        self.page.get_by_label(self.t("Your PokerOK account (e-mail, nickname or player id)")).fill(identifier)
        self.button("Add account").click()
        expect(self.flash("Account added. Send the verification amount from it to confirm it is yours.")
               ).to_be_visible()
        entry = self.room_account(identifier)
        expect(entry.get_by_text(self.t("awaiting verification"))).to_be_visible()
        text = entry.inner_text()
        found = re.search(r"(\d+)[.,](\d{2})", text)
        assert found, f"no verification amount in {text!r}"
        return int(found.group(1)) * 100 + int(found.group(2))

    def room_account(self, identifier: str) -> Locator:
        return self.room_accounts().get_by_role("listitem").filter(has_text=identifier)

    def watch_for_deposit(self) -> None:
        self.button("I have sent dollars — watch for them").click()
        expect(self.page.get_by_text(self.t("Waiting for the room… this updates by itself."))).to_be_visible()

    def expect_verified(self, identifier: str) -> None:
        expect(self.room_account(identifier).get_by_text(self.t("verified"), exact=True)).to_be_visible(
            timeout=LIVE_TIMEOUT)

    def expect_available(self, cents: int) -> None:
        expect(self.available()).to_have_text(self.t.usd(cents), timeout=LIVE_TIMEOUT)

    def proof_of_reserves(self) -> MyProofsPage:
        """The wallet's "Check that your balance is counted" link."""
        self.link("Check that your balance is counted").click()
        page = MyProofsPage(self.page, self.t)
        expect(page.heading("Your proof of reserves")).to_be_visible()
        return page

    def cash_out(self, identifier: str, dollars: str) -> None:
        """Ask for a cash-out to a verified room account."""
        account = self.page.get_by_label(self.t("To room account"))
        account.select_option(label=identifier)
        self.page.get_by_label(self.t("Amount, $")).fill(dollars)
        self.button("Cash out").click()
        expect(self.flash("Cash-out requested. It usually arrives within a minute.")).to_be_visible()


class ReservesPage(Screen):
    """The public proof-of-reserves page."""

    def root_hash(self) -> Locator:
        return self.page.locator("#reserves-root")

    def public_key(self) -> Locator:
        return self.page.locator("#reserves-public-key")

    def download_verifier(self):
        """Click "Download the verifier"; returns Playwright's download."""
        with self.page.expect_download() as download:
            self.page.get_by_role("link", name=exact(self.t("Download the verifier"))).first.click()
        return download.value


class MyProofsPage(Screen):
    """A signed-in user's proofs, one row per snapshot they are in."""

    def download_latest(self):
        """Click the newest snapshot's "Download the proof"; returns Playwright's download."""
        with self.page.expect_download() as download:
            self.page.locator("#my-proofs").get_by_role("link", name=exact(self.t("Download the proof"))).first.click()
        return download.value

    def public_page(self) -> ReservesPage:
        self.link("The public reserves page").click()
        page = ReservesPage(self.page, self.t)
        expect(page.heading("Proof of reserves")).to_be_visible()
        return page


class RoomSandboxPage:
    """The sandbox PokerOK room's page, standing in for the player's poker client (bilingual labels)."""

    def __init__(self, page: Page):
        self.page = page

    def _form(self, button: str) -> Locator:
        return self.page.locator("form").filter(has=self.page.get_by_role("button", name=button))

    def open(self, room_url: str) -> RoomSandboxPage:
        """The room is another site: a person opens their poker client themselves (its first and only ``goto``)."""
        self.page.goto(room_url + "/")
        expect(self.page.get_by_role("heading", name="PokerOK sandbox")).to_be_visible()
        return self

    def open_account(self, account: str, dollars: str) -> None:
        form = self._form("Сохранить / Save")
        form.get_by_label("New account or top-up").fill(account)
        form.get_by_label("Amount, $").fill(dollars)
        form.get_by_role("button").click()
        expect(self.page.get_by_role("status")).to_contain_text("Account opened")

    def choose_account(self, account: str) -> None:
        form = self._form("Открыть / Open")
        form.get_by_label("Account").select_option(account)
        form.get_by_role("button").click()
        expect(self.page.get_by_role("heading", name=account)).to_be_visible()

    def transfer_to_platform(self, dollars: str) -> None:
        form = self._form("Перевести / Transfer")
        form.get_by_label("Amount, $").fill(dollars)
        form.get_by_role("button").click()
        expect(self.page.get_by_role("status")).to_contain_text("Transfer done")

    def received(self, sender: str, dollars: str) -> Locator:
        """The row of a transfer into the open account from ``sender``."""
        return self.page.get_by_role("row").filter(has_text=sender).filter(has_text=f"+{dollars}")


class SellerPage(Screen):
    def manage_api_forms(self) -> ApiFormsPage:
        self.button("Manage API forms").click()
        page = ApiFormsPage(self.page, self.t)
        expect(page.heading("API forms")).to_be_visible()
        return page

    def answer_dispute(self) -> DisputePage:
        """The dashboard's link to the one open dispute on the seller's invoices."""
        self.link("Answer the dispute").click()
        page = DisputePage(self.page, self.t)
        expect(page.heading_conversation()).to_be_visible()
        return page

    def sell_dollars(self) -> WithdrawalsPage:
        self.button("Sell dollars").click()
        page = WithdrawalsPage(self.page, self.t)
        expect(page.heading("Withdrawal requests")).to_be_visible()
        return page


class ApiFormsPage(Screen):
    def add(self, kind: str, name: str, credentials: dict[str, str]) -> None:
        """Add an API form of ``kind`` through the form (credential fields found by their labels)."""
        self.page.get_by_role("button", name=KIND_LABELS[kind]).click()
        expect(self.page.get_by_role("heading", name=containing(KIND_LABELS[kind]))).to_be_visible()
        self.page.get_by_label(self.t("Name (only you see it)")).fill(name)
        for spec in CREDENTIAL_FIELDS[kind]:
            label = spec.label_ru if self.t.lang == "ru" else spec.label_en
            self.page.get_by_label(label, exact=True).fill(credentials[spec.name])
        self.button("Check and save").click()
        expect(self.heading("Notification address")).to_be_visible()

    def set_limits(self, *, rubles: str, invoices: str, start: str, end: str, zone: str) -> None:
        """On a form's own page: set its limits per day and its working hours, and save."""
        limits = self.page.locator("#form-limits")
        expect(limits.get_by_role("heading", name=self.t("Limits"))).to_be_visible()
        limits.get_by_label(containing(self.t("Rubles per day at most"))).fill(rubles)  # its hint follows
        limits.get_by_label(self.t("Invoices per day at most")).fill(invoices)
        limits.get_by_label(self.t("Working hours from")).fill(start)
        limits.get_by_label(containing(self.t("Working hours until"))).fill(end)
        limits.get_by_label(self.t("Time zone")).select_option(zone)
        limits.get_by_role("button", name=exact(self.t("Save limits"))).click()
        expect(self.flash("The form's limits are saved.")).to_be_visible()

    def back_to_list(self) -> ApiFormsPage:
        self.page.get_by_role("link", name=containing(self.t("API forms"))).first.click()
        expect(self.heading("API forms")).to_be_visible()
        return self


class WithdrawalsPage(Screen):
    def put_up(self, form_name: str, dollars: str, min_rubles: str, max_rubles: str, at_once: int = 3) -> Locator:
        """Put dollars up for sale; returns the new request's card."""
        select = self.page.get_by_label(self.t("API form"))
        select.select_option(label=select.locator("option", has_text=form_name).inner_text().strip())
        self.page.get_by_label(self.t("Dollars to sell, $")).fill(dollars)
        self.page.get_by_label(self.t("Invoices open at once")).fill(str(at_once))
        self.page.get_by_label(self.t("Smallest invoice, ₽")).fill(min_rubles)
        self.page.get_by_label(self.t("Largest invoice, ₽")).fill(max_rubles)
        self.button("Put up for sale").click()
        expect(self.flash("Your dollars are in the queue.")).to_be_visible()
        return self.page.locator("article.withdrawal").filter(has_text=form_name).first

    def available(self) -> Locator:
        return self.page.get_by_text(self.t("Available in your wallet:"))


class DepositPage(Screen):
    def method(self, kind: str) -> Locator:
        return self.page.get_by_role("radio", name=containing(KIND_LABELS[kind]))

    def amount(self) -> Locator:
        return self.page.get_by_label(self.t("Amount, ₽"))

    def buy(self, kind: str, rubles: str) -> InvoicePage:
        self.method(kind).check()
        self.amount().fill(rubles)
        expect(self.page.get_by_text(self.t("You pay"))).to_be_visible()  # the live quote
        self.button("Continue").click()
        return InvoicePage(self.page, self.t)


    def ask_split(self, kind: str, rubles: str) -> SplitOfferPage:
        """An amount no single seller takes: the live preview says it can be paid in parts; Continue offers it."""
        self.method(kind).check()
        self.amount().fill(rubles)
        expect(self.page.get_by_text(self.t("No single seller takes this amount at once; it can be paid in parts:"))
               ).to_be_visible()
        self.button("Continue").click()
        page = SplitOfferPage(self.page, self.t)
        expect(page.heading("Pay in parts")).to_be_visible()
        return page


class SplitOfferPage(Screen):
    """The split offer: the parts, and the one button that accepts them."""

    def parts(self) -> Locator:
        return self.page.locator("#split-parts")

    def accept(self) -> SplitPage:
        self.button("Accept and pay in parts").click()
        page = SplitPage(self.page, self.t)
        expect(page.page.locator("#split-status")).to_be_visible()
        return page


class SplitPage(Screen):
    """A split purchase: each part with its own pay button, timer and status; the total paid so far."""

    def part(self, n: int) -> Locator:
        return self.page.locator(f"#split-part-{n}")

    def expect_parts(self, amounts: list[int], kind: str) -> None:
        """Every part is an invoice with its pay button and its countdown (live: the page polls)."""
        for n, kopecks in enumerate(amounts, start=1):
            part = self.part(n)
            expect(part.get_by_role("heading", name=containing(self.t("Payment %(n)d of %(total)d", n=n,
                                                                      total=len(amounts))))
                   ).to_be_visible(timeout=LIVE_TIMEOUT)
            expect(self.pay_link(kopecks, kind)).to_be_visible(timeout=LIVE_TIMEOUT)
            expect(part.locator(".countdown")).to_be_visible()

    def pay_link(self, kopecks: int, kind: str) -> Locator:
        return self.page.get_by_role("button", name=self.t("Pay %(amount)s with %(method)s",
                                                           amount=self.t.rub(kopecks), method=KIND_LABELS[kind]))

    def pay(self, kopecks: int, kind: str) -> ProviderPayPage:
        """Click one part's pay button: the provider's own page opens in this tab."""
        self.pay_link(kopecks, kind).click()
        page = ProviderPayPage(self.page)
        expect(page.pay_button()).to_be_visible()
        return page

    def part_status(self, n: int, status_msgid: str) -> Locator:
        return self.part(n).locator(".badge").filter(has_text=exact(self.t(status_msgid)))

    def total(self) -> Locator:
        return self.page.locator("#split-total")


class InvoicePage(Screen):
    def back_to_split(self) -> SplitPage:
        """A part's own invoice page links back to the whole purchase."""
        self.link("All payments of this purchase").click()
        page = SplitPage(self.page, self.t)
        expect(page.page.locator("#split-status")).to_be_visible()
        return page

    def status(self) -> Locator:
        return self.page.locator("#deposit-status")

    def pay_link(self, kind: str) -> Locator:
        return self.page.get_by_role("button", name=self.t("Pay with %(method)s", method=KIND_LABELS[kind]))

    def expect_invoice(self, kind: str, kopecks: int) -> None:
        """The invoice is published: the amount to pay, the pay button, the countdown."""
        expect(self.page.get_by_text(self.t("Pay exactly"))).to_be_visible(timeout=LIVE_TIMEOUT)
        expect(self.page.get_by_text(self.t.rub(kopecks)).first).to_be_visible()
        expect(self.pay_link(kind)).to_be_visible()
        expect(self.button("Cancel the invoice")).to_be_visible()

    def pay(self, kind: str) -> ProviderPayPage:
        """Click the pay button: the provider's own page opens in this tab."""
        self.pay_link(kind).click()
        page = ProviderPayPage(self.page)
        expect(page.pay_button()).to_be_visible()
        return page

    def claim_paid(self) -> None:
        self.button("I have paid").click()
        expect(self.page.get_by_text(self.t("Thank you. We are checking the payment with the provider."))
               ).to_be_visible()
        expect(self.button("I have paid")).to_have_count(0)

    def cancel(self) -> None:
        """"Cancel the invoice" (the page asks first; the journey's dialog handler says yes)."""
        self.button("Cancel the invoice").click()
        expect(self.heading("The invoice is cancelled")).to_be_visible()

    def start_again(self) -> DepositPage:
        self.button("Start a new purchase").click()
        page = DepositPage(self.page, self.t)
        expect(page.heading("Buy game dollars")).to_be_visible()
        return page

    def settled_heading(self, usd_cents: int) -> Locator:
        return self.heading("Done! %(usd)s is in your wallet.", usd=self.t.usd(usd_cents))

    def expect_settled(self, usd_cents: int) -> None:
        expect(self.settled_heading(usd_cents)).to_be_visible(timeout=LIVE_TIMEOUT)
        expect(self.button("Open the wallet")).to_be_visible()

    def open_wallet(self) -> WalletPage:
        self.button("Open the wallet").click()
        page = WalletPage(self.page, self.t)
        expect(page.heading("Wallet")).to_be_visible()
        return page

    def expect_expired(self) -> None:
        expect(self.heading("The invoice has expired")).to_be_visible(timeout=LIVE_TIMEOUT)

    def open_dispute(self, note: str) -> None:
        self.page.get_by_label(self.t("What happened (optional)")).fill(note)
        self.button("Open a dispute").click()
        expect(self.heading("Under review")).to_be_visible()

    def open_dispute_thread(self) -> DisputePage:
        self.button("Open the dispute conversation").click()
        page = DisputePage(self.page, self.t)
        expect(page.heading_conversation()).to_be_visible()
        return page

    def my_purchases(self) -> PurchasesPage:
        self.link("My purchases").click()
        page = PurchasesPage(self.page, self.t)
        expect(page.heading("Purchases")).to_be_visible()
        return page

    def try_again(self) -> DepositPage:
        self.button("Try again").click()
        page = DepositPage(self.page, self.t)
        expect(page.heading("Buy game dollars")).to_be_visible()
        return page


class DisputePage(Screen):
    """A dispute's conversation, as its buyer, its seller or ops see it (the same thread)."""

    def heading_conversation(self) -> Locator:
        return self.page.get_by_role("heading", name=exact(self.t("Conversation")))

    def thread(self) -> Locator:
        return self.page.get_by_role("region", name=self.t("Conversation"))

    def message(self, text: str) -> Locator:
        return self.thread().locator("article").filter(has_text=text)

    def write(self, text: str) -> None:
        self.page.get_by_label(self.t("Message")).fill(text)

    def attach(self, name: str, mime_type: str, content: bytes) -> None:
        """Choose a file as a person does in the picker (Playwright fills the file input with these bytes)."""
        self.page.get_by_label(self.t("Receipt or screenshot (PNG, JPEG or PDF)")).set_input_files(
            {"name": name, "mimeType": mime_type, "buffer": content})

    def send(self) -> None:
        self.button("Send").click()
        expect(self.heading_conversation()).to_be_visible()

    def back_to_purchase(self) -> InvoicePage:
        """The buyer's way back to the invoice page."""
        self.link("Back to the purchase").click()
        page = InvoicePage(self.page, self.t)
        expect(page.status()).to_be_visible()
        return page


class PurchasesPage(Screen):
    def open_latest(self) -> InvoicePage:
        """The newest purchase (the list is newest first; its link is the purchase's time)."""
        self.page.get_by_role("table").get_by_role("link").first.click()
        return InvoicePage(self.page, self.t)


class ProviderPayPage:
    """The sandbox provider's hosted pay page (what the buyer's bank page would be)."""

    def __init__(self, page: Page):
        self.page = page

    def pay_button(self) -> Locator:
        return self.page.get_by_role("button", name="Оплатить / Pay")

    def pay(self) -> None:
        """Pay; the provider sends the buyer back to the shop (the invoice page)."""
        self.pay_button().click()
        expect(self.pay_button()).to_have_count(0)


class OpsArea(Screen):
    """The ops area: its own sub-navigation of sections."""

    def bar(self) -> Locator:
        return self.page.get_by_role("navigation", name=self.t("Ops area"))

    def sections(self) -> list[str]:
        return [name.strip() for name in self.bar().get_by_role("link").all_inner_texts()]

    def open(self, name: str) -> None:
        link = self.bar().get_by_role("link", name=exact(name))
        link.click()
        expect(link).to_have_attribute("aria-current", "page")

    def open_dispute(self, deposit_id: int) -> None:
        self.open(self.t("Disputes"))
        self.page.get_by_role("link", name=exact(str(deposit_id))).click()
        expect(self.heading("Dispute over invoice %(id)s", id=deposit_id)).to_be_visible()

    def dispute_thread(self) -> DisputePage:
        """The dispute's thread as ops see it, beside the provider's evidence."""
        return DisputePage(self.page, self.t)

    def decide(self, decision: str, reason: str) -> None:
        """``decision``: the radio's English label; the reason is shown to nobody but the audit log today."""
        self.page.get_by_role("radio", name=self.t(decision)).check()
        self.page.get_by_label(self.t("Reason (kept in the audit log)")).fill(reason)
        self.button("Decide").click()


class NotificationsPage(Screen):
    def channels(self) -> ChannelsPage:
        self.link("E-mail and Telegram").click()
        page = ChannelsPage(self.page, self.t)
        expect(page.heading("Notification channels")).to_be_visible()
        return page


class ChannelsPage(Screen):
    """Where notifications go: e-mail, and Telegram linked by a one-time link to the bot."""

    def deep_link(self) -> Locator:
        """A link styled as a button (``role="button"``), as the app's other calls to action."""
        return self.button("Open the bot in Telegram")

    def connect_telegram(self) -> str:
        """Press "Connect Telegram"; returns the address of the bot link the page then offers."""
        self.button("Connect Telegram").click()
        expect(self.deep_link()).to_be_visible()
        expect(self.page.get_by_text(self.t("Open our bot in Telegram and press Start. This page will show when "
                                            "it is done."))).to_be_visible()
        return self.deep_link().get_attribute("href")

    def expect_linked(self) -> None:
        expect(self.page.get_by_text(self.t("Telegram is connected"), exact=True)).to_be_visible(
            timeout=LIVE_TIMEOUT)
        expect(self.deep_link()).to_have_count(0)

    def disconnect(self) -> None:
        self.button("Disconnect").click()
        expect(self.flash("Telegram is disconnected.")).to_be_visible()
        expect(self.button("Connect Telegram")).to_be_visible()
