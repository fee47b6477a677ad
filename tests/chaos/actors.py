"""Simulated sellers and buyers: each a thread with its own seeded RNG and HTTP session.

They do what people do, over HTTP only: sellers send dollars to the platform's
room account (the sandbox room), put up withdrawal requests, pause / resume /
cancel them, cash out; buyers buy (deposit form, wait for the invoice, then pay
on the provider's hosted page, decline there, or walk away so it expires),
sometimes double-submit, claim "I paid" and cash out to their room account.

A request that fails on the wire (a killed gunicorn worker, a restart) is
retried with the same form and request key, as a browser's resubmit would.
"""
from __future__ import annotations

import html
import random
import re
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urljoin

import requests

from tests.chaos.world import PASSWORD, PLATFORM_ACCOUNT, STRANGER, Person

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_PAY = re.compile(r'href="([^"]+)"[^>]*id="pay-button"')
_ACTION = re.compile(r"/seller/withdrawals/(\d+)/(pause|resume|cancel)")
_DEPOSIT = re.compile(r"/buy/(\d+)$")
_KIND = re.compile(r'name="dep-kind"[^>]*value="(\w+)"|value="(\w+)"[^>]*name="dep-kind"')


class Stats:
    """Thread-safe counters of operations and their outcomes, plus observed violations."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ops: Counter = Counter()
        self.outcomes: Counter = Counter()
        self.violations: list[str] = []
        #: (monotonic time, what) of every HTTP 500 from the platform; judged at the end
        self.errors: list[tuple[float, str]] = []
        #: room transfer ids the people made (to the platform), for the checker
        self.room_sends: list[dict] = []

    def op(self, name: str, outcome: str = "ok") -> None:
        with self.lock:
            self.ops[name] += 1
            self.outcomes[f"{name}:{outcome}"] += 1

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.ops.values())


class Actor(threading.Thread):
    def __init__(self, system, person: Person | None, seed: int, stats: Stats, stop: threading.Event,
                 think: tuple[float, float]):
        super().__init__(name=f"actor-{person.email if person else 'stranger'}", daemon=True)
        self.system, self.person, self.stats, self.stop_event = system, person, stats, stop
        self.rng = random.Random(seed)
        self.think = think
        self.http = requests.Session()
        self.csrf = None

    # --- plumbing ------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.system.web_url + path

    def request(self, method: str, url: str, *, tries: int = 4, **kwargs) -> requests.Response | None:
        """One request, resent on connection errors / 502-504 (a killed worker) with the same body."""
        kwargs.setdefault("timeout", 15)
        kwargs.setdefault("allow_redirects", False)
        for attempt in range(tries):
            try:
                response = self.http.request(method, url, **kwargs)
            except requests.RequestException:
                response = None
            if response is not None and response.status_code < 500:
                return response
            if response is not None and response.status_code == 500:
                with self.stats.lock:
                    self.stats.errors.append((time.monotonic(), f"HTTP 500 from {method} {url}"))
                return response
            time.sleep(0.2 * (attempt + 1))
        return None

    def login(self) -> bool:
        page = self.request("GET", self.url("/login"))
        if page is None:
            return False
        token = _CSRF.search(page.text)
        response = self.request("POST", self.url("/login"), data={
            "email": self.person.email, "password": PASSWORD, "csrf_token": token and token[1]})
        ok = response is not None and response.status_code == 302
        self.stats.op("login", "ok" if ok else "failed")
        if ok:
            self.refresh_csrf()
        return ok

    def refresh_csrf(self) -> None:
        page = self.request("GET", self.url("/wallet/"))
        if page is not None:
            found = _CSRF.search(page.text)
            if found:
                self.csrf = found[1]

    def form(self, path: str, data: dict) -> requests.Response | None:
        data = dict(data, csrf_token=self.csrf)
        response = self.request("POST", self.url(path), data=data)
        if response is not None and response.status_code == 400 and "CSRF" in response.text:
            self.refresh_csrf()
            response = self.request("POST", self.url(path), data=dict(data, csrf_token=self.csrf))
        if response is not None and response.status_code == 302 and "/login" in response.headers.get(
                "Location", ""):
            self.login()
            response = self.request("POST", self.url(path), data=dict(data, csrf_token=self.csrf))
        return response

    def get(self, name: str, path: str, htmx: bool = False) -> requests.Response | None:
        headers = {"HX-Request": "true"} if htmx else {}
        response = self.request("GET", self.url(path), headers=headers)
        self.stats.op(name, "ok" if response is not None and response.status_code == 200 else "failed")
        return response

    def pause(self) -> None:
        self.stop_event.wait(self.rng.uniform(*self.think))

    def run(self) -> None:
        while not self.stop_event.is_set() and not self.login():
            self.pause()
        while not self.stop_event.is_set():
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - a bug in the simulator must not stop the run
                self.stats.op("simulator-error", type(exc).__name__)
            self.pause()

    def step(self) -> None:
        raise NotImplementedError

    def choose(self, weights: dict) -> str:
        names = list(weights)
        return self.rng.choices(names, [weights[n] for n in names])[0]

    def cash_out(self) -> None:
        amount = self.rng.randint(100, 5_000)
        response = self.form("/wallet/cash-outs", {
            "co-room_account": str(self.person.room_account_id), "co-amount": f"{amount / 100:.2f}",
            "co-request_key": uuid.uuid4().hex})
        self.stats.op("cash-out", _outcome(response))


def _outcome(response: requests.Response | None) -> str:
    if response is None:
        return "no-answer"
    if response.status_code in (302, 303):
        return "ok"
    return f"http-{response.status_code}"


class Seller(Actor):
    started = False

    def step(self) -> None:
        if not self.started:  # a seller starts by bringing dollars in: the market needs liquidity early
            self.started = True
            self.room_deposit()
            return
        getattr(self, self.choose({
            "room_deposit": 3, "withdrawal": 4, "request_action": 2, "look": 2, "cash_out": 0.5,
        }))()

    def room_deposit(self) -> None:
        amount = self.rng.randint(20_00, 400_00)
        try:
            response = requests.post(self.system.room_url + "/_sandbox/room/transfers", timeout=10, json={
                "from": self.person.room_account, "to": PLATFORM_ACCOUNT, "amount": amount, "note": "chaos"})
        except requests.RequestException:
            self.stats.op("room-deposit", "no-answer")
            return
        if response.ok:
            with self.stats.lock:
                self.stats.room_sends.append(response.json())
        self.stats.op("room-deposit", "ok" if response.ok else f"http-{response.status_code}")
        if response.ok and self.rng.random() < 0.5:
            self.stats.op("expect-deposit", _outcome(self.form("/wallet/expect-deposit", {})))

    def withdrawal(self) -> None:
        kind = self.rng.choice(list(self.person.forms))
        low = self.rng.choice([100_00, 500_00, 1_000_00])
        response = self.form("/seller/withdrawals", {
            "wr-payment_form": str(self.person.forms[kind]),
            "wr-amount": f"{self.rng.randint(20_00, 250_00) / 100:.2f}",
            "wr-min_invoice": f"{low / 100:.2f}", "wr-max_invoice": f"{self.rng.choice([20_000_00, 50_000_00]) / 100:.2f}",
            "wr-max_open_invoices": str(self.rng.randint(1, 5)), "wr-request_key": uuid.uuid4().hex,
        })
        self.stats.op("withdrawal-request", _outcome(response))

    def request_action(self) -> None:
        page = self.get("seller-withdrawals-page", "/seller/withdrawals")
        if page is None:
            return
        actions = _ACTION.findall(page.text)
        if not actions:
            return
        weights = {"pause": 2, "resume": 3, "cancel": 1}
        request_id, action = self.rng.choices(actions, [weights[a] for _, a in actions])[0]
        self.stats.op(f"withdrawal-{action}",
                      _outcome(self.form(f"/seller/withdrawals/{request_id}/{action}", {})))

    def look(self) -> None:
        self.get("page-view", self.rng.choice(["/wallet/", "/seller/", "/wallet/live", "/seller/withdrawals"]),
                 htmx=self.rng.random() < 0.5)

    def cash_out(self) -> None:
        super().cash_out()


class Buyer(Actor):
    #: seconds an invoice stays payable (the run's platform setting)
    invoice_lifetime = 60

    def step(self) -> None:
        getattr(self, self.choose({"buy": 6, "cash_out": 1.5, "look": 1.5}))()

    def look(self) -> None:
        self.get("page-view", self.rng.choice(["/buy/history", "/wallet/", "/buy/", "/wallet/live"]))

    def buy(self) -> None:
        # Like a person: open the form and pick one of the methods it offers (those with liquidity now).
        page = self.get("deposit-page", "/buy/")
        offered = sorted({a or b for a, b in _KIND.findall(page.text)}) if page is not None else []
        kind = self.rng.choice(offered or ["tbank", "yookassa", "yoomoney"])
        rubles = self.rng.randint(100_000, 1_500_000)  # 1,000 .. 15,000 ₽
        data = {"dep-kind": kind, "dep-amount": f"{rubles / 100:.2f}", "dep-request_key": uuid.uuid4().hex}
        response = self.form("/buy/", data)
        outcome = _outcome(response)
        self.stats.op("deposit", outcome)
        if outcome != "ok":
            return
        location = response.headers.get("Location", "")
        found = _DEPOSIT.search(location)
        if not found:
            return
        deposit_id = int(found[1])
        if self.rng.random() < 0.08:  # a double submit of the same form: must land on the same deposit
            again = self.form("/buy/", data)
            self.stats.op("deposit-resubmit", _outcome(again))
            if again is not None and again.status_code == 302 and again.headers.get("Location") != location:
                self.stats.violation(f"double submit made a second deposit: {location} vs {again.headers['Location']}")
        pay_url = self.wait_for_invoice(deposit_id)
        if pay_url is None:
            return
        choice = self.choose({"pay": 66, "decline": 8, "walk_away": 13, "claim_then_walk_away": 3,
                              "pay_after_claim": 5, "pay_late": 5})
        if choice in ("claim_then_walk_away", "pay_after_claim"):
            self.stats.op("claim-paid", _outcome(self.form(f"/buy/{deposit_id}/paid", {})))
        if choice == "pay_late":
            # Comes back around the invoice's expiry: paid just in time, refused, or paid after the
            # platform expired it (settled late if the escrow still covers it, else a dispute for ops).
            self.stop_event.wait(self.rng.uniform(0.6, 1.4) * self.invoice_lifetime)
            if self.stop_event.is_set():
                return
        if choice in ("pay", "decline", "pay_after_claim", "pay_late"):
            self.on_pay_page(pay_url, "decline" if choice == "decline" else "pay")
            for _ in range(self.rng.randint(1, 3)):
                self.pause()
                self.get("deposit-status", f"/buy/{deposit_id}", htmx=True)
        else:
            self.stats.op("walk-away")

    def wait_for_invoice(self, deposit_id: int) -> str | None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.stop_event.is_set():
            page = self.get("deposit-status", f"/buy/{deposit_id}", htmx=True)
            if page is not None and page.status_code == 200:
                found = _PAY.search(page.text)
                if found:
                    return html.unescape(found[1])
                if "failed" in page.text.lower() and "awaiting" not in page.text.lower():
                    pass
            self.stop_event.wait(0.7)
        return None

    def on_pay_page(self, pay_url: str, action: str) -> None:
        """What the buyer's browser does on the provider's page (loopback sandbox)."""
        try:
            response = requests.get(pay_url, allow_redirects=False, timeout=10)
            if response.status_code in (301, 302, 303):  # YooMoney quickpay -> the payment page
                pay_url = urljoin(pay_url, response.headers["Location"])
                response = requests.get(pay_url, timeout=10)
            if response.status_code != 200:
                self.stats.op(f"provider-{action}", f"page-{response.status_code}")
                return
            posted = requests.post(pay_url, data={"action": action}, allow_redirects=False, timeout=10)
            self.stats.op(f"provider-{action}", "ok" if posted.status_code in (302, 303) else f"http-{posted.status_code}")
        except requests.RequestException as exc:
            self.stats.op(f"provider-{action}", type(exc).__name__)


class Stranger(Actor):
    """Someone the platform does not know sends dollars now and then: unmatched, never credited."""

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.stop_event.wait(self.rng.uniform(5, 15))
            if self.stop_event.is_set():
                return
            try:
                response = requests.post(self.system.room_url + "/_sandbox/room/transfers", timeout=10, json={
                    "from": STRANGER, "to": PLATFORM_ACCOUNT, "amount": self.rng.randint(1_00, 50_00)})
                self.stats.op("room-deposit-stranger", "ok" if response.ok else f"http-{response.status_code}")
            except requests.RequestException:
                self.stats.op("room-deposit-stranger", "no-answer")
