"""Page objects: every selector the browser journeys use, in one place.

Selectors are roles, labels and visible text, written as the English msgids and
translated through the app's own compiled catalogue (``Text``), so one list
serves both languages and a reworded button needs one edit here (or none: the
msgid changes in the template and in this file together).  Ids are used only
for values that have no accessible name of their own (the balance figures).
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from playwright.sync_api import Locator, Page, expect

from app.connectors.payments.base import CREDENTIAL_FIELDS
from app.money import format_rub, format_usd
from app.services.payment_forms import KIND_LABELS

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


def fits_width(page: Page) -> None:
    """Nothing on the page is wider than the viewport (no sideways scrolling on a phone)."""
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page is {widths[0]}px wide in a {widths[1]}px viewport: {page.url}"


class Screen:
    def __init__(self, page: Page, t: Text):
        self.page = page
        self.t = t

    def heading(self, msgid: str, **values) -> Locator:
        return self.page.get_by_role("heading", name=self.t(msgid, **values))

    def button(self, msgid: str, **values) -> Locator:
        return self.page.get_by_role("button", name=exact(self.t(msgid, **values)))

    def flash(self, msgid: str) -> Locator:
        return self.page.get_by_role("status").get_by_text(self.t(msgid))


class Navigation(Screen):
    """The header: main sections, language switch, sign out."""

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

    def language_button(self) -> Locator:
        """The one-click switch to the other language (its name is in the language it switches to)."""
        name = "Switch to English" if self.t.lang == "ru" else "Переключить на русский"
        return self.page.get_by_role("button", name=name)

    def switch_language(self) -> Text:
        self.language_button().click()
        other = Text("en" if self.t.lang == "ru" else "ru")
        expect(self.page.locator("html")).to_have_attribute("lang", other.lang)
        return other


class LoginPage(Screen):
    def open(self, base_url: str) -> LoginPage:
        self.page.goto(f"{base_url}/login?lang={self.t.lang}")
        expect(self.heading("Sign in")).to_be_visible()
        return self

    def sign_in(self, email: str, password: str, account_lang: str | None = None) -> Navigation:
        """Sign in; the pages then speak the account's saved language (``account_lang``, else this page's)."""
        self.page.get_by_label(self.t("E-mail")).fill(email)
        self.page.get_by_label(self.t("Password")).fill(password)
        self.button("Sign in").click()
        nav = Navigation(self.page, Text(account_lang) if account_lang else self.t)
        # signed in: the header has the sign-out button (folded into the menu on a phone)
        expect(nav.bar().get_by_role("button", name=exact(nav.t("Sign out")), include_hidden=True)).to_be_attached()
        return nav


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


class RoomSandboxPage:
    """The sandbox PokerOK room's page, where a test plays the seller in the room (bilingual labels)."""

    def __init__(self, page: Page):
        self.page = page

    def _form(self, button: str) -> Locator:
        return self.page.locator("form").filter(has=self.page.get_by_role("button", name=button))

    def open(self, room_url: str) -> RoomSandboxPage:
        self.page.goto(room_url + "/")
        expect(self.page.get_by_role("heading", name="PokerOK sandbox")).to_be_visible()
        return self

    def open_account(self, account: str, dollars: str) -> None:
        form = self._form("Сохранить / Save")
        form.get_by_label("New account or top-up").fill(account)
        form.get_by_label("Amount, $").fill(dollars)
        form.get_by_role("button").click()
        expect(self.page.get_by_role("status")).to_contain_text("Account opened")

    def transfer_to_platform(self, dollars: str) -> None:
        form = self._form("Перевести / Transfer")
        form.get_by_label("Amount, $").fill(dollars)
        form.get_by_role("button").click()
        expect(self.page.get_by_role("status")).to_contain_text("Transfer done")


class SellerPage(Screen):
    def manage_api_forms(self) -> ApiFormsPage:
        self.button("Manage API forms").click()
        page = ApiFormsPage(self.page, self.t)
        expect(page.heading("API forms")).to_be_visible()
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


class WithdrawalsPage(Screen):
    def put_up(self, form_name: str, dollars: str, min_rubles: str, max_rubles: str, at_once: int = 3) -> Locator:
        """Put dollars up for sale; returns the new request's card."""
        select = self.page.get_by_label(self.t("API form"))
        select.select_option(select.locator("option", has_text=form_name).get_attribute("value"))
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


class InvoicePage(Screen):
    def status(self) -> Locator:
        return self.page.locator("#deposit-status")

    def pay_link(self, kind: str) -> Locator:
        return self.page.get_by_role("button", name=self.t("Pay with %(method)s", method=KIND_LABELS[kind]))

    def expect_invoice(self, kind: str, kopecks: int) -> None:
        """The invoice is published: the amount to pay, the pay button, the countdown."""
        expect(self.page.get_by_text(self.t("Pay exactly"))).to_be_visible(timeout=LIVE_TIMEOUT)
        expect(self.page.get_by_text(self.t.rub(kopecks)).first).to_be_visible()
        expect(self.pay_link(kind)).to_be_visible()
        expect(self.button("I have paid")).to_be_visible()

    def settled_heading(self, usd_cents: int) -> Locator:
        return self.heading("Done! %(usd)s is in your wallet.", usd=self.t.usd(usd_cents))

    def expect_settled(self, usd_cents: int) -> None:
        expect(self.settled_heading(usd_cents)).to_be_visible(timeout=LIVE_TIMEOUT)
        expect(self.button("Open the wallet")).to_be_visible()

    def expect_expired(self) -> None:
        expect(self.heading("The invoice has expired")).to_be_visible(timeout=LIVE_TIMEOUT)

    def try_again(self) -> DepositPage:
        self.button("Try again").click()
        page = DepositPage(self.page, self.t)
        expect(page.heading("Buy game dollars")).to_be_visible()
        return page


class ProviderPayPage:
    """The sandbox provider's hosted pay page (what the buyer's bank page would be)."""

    def __init__(self, page: Page):
        self.page = page

    def pay(self) -> None:
        button = self.page.get_by_role("button", name="Оплатить / Pay")
        button.click()
        expect(button).to_have_count(0)  # the provider shows the outcome or returns to the shop
