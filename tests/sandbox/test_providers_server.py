"""The providers sandbox speaks the wire contracts (checked at the HTTP level, without the adapters)."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.wrappers import Request, Response

from sandbox.providers import create_providers_app
from sandbox.providers.common import tbank_token
from sandbox.server import serve

SBP_LINK = re.compile(r"https://qr\.nspk\.ru/[A-Z0-9]{32}\?type=02&bank=100000000001&sum=(\d+)&cur=RUB&crc=[0-9A-F]{4}")


class Receiver:
    """Records deliveries; answers "OK" (what T-Bank wants; the others accept any 2xx)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        self._cond = threading.Condition()

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._cond:
            self.bodies.append(request.get_data())
            self.headers.append(dict(request.headers))
            self._cond.notify_all()
        return Response("OK")(environ, start_response)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.bodies) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} deliveries, got {len(self.bodies)}"
                self._cond.wait(left)
            return list(self.bodies)


@pytest.fixture
def sandbox():
    app = create_providers_app(seed=3)
    client = app.test_client()
    yield client
    assert app.extensions["sandbox_providers"].notifier.wait_idle(5)


@pytest.fixture
def receiver():
    endpoint = Receiver()
    running = serve(endpoint)
    endpoint.url = running.url + "/hook"
    yield endpoint
    running.stop()


def account(client, provider: str, **values) -> dict:
    response = client.post(f"/_sandbox/providers/{provider}/accounts", json=values)
    assert response.status_code == 201
    return response.get_json()


# --- T-Bank -------------------------------------------------------------------------------------


def tbank(client, terminal: dict, method: str, **fields) -> dict:
    body = {"TerminalKey": terminal["terminal_key"], **fields}
    body["Token"] = tbank_token(body, terminal["password"])
    response = client.post(f"/tbank/v2/{method}", json=body)
    assert response.status_code == 200
    return response.get_json()


def test_tbank_refuses_a_redirect_due_date_under_a_minute_ahead(sandbox):
    """Does the sandbox enforce the contract's RedirectDueDate limits (1 minute to 90 days after Init)?"""
    terminal = account(sandbox, "tbank")
    now = datetime.now(UTC)
    for order, ahead, accepted in (("a", timedelta(seconds=58), False), ("b", timedelta(days=91), False),
                                   ("c", timedelta(seconds=62), True)):
        answer = tbank(sandbox, terminal, "Init", Amount=150000, OrderId=order,
                       RedirectDueDate=(now + ahead).isoformat(timespec="seconds"))
        assert answer["Success"] is accepted, (ahead, answer)


def test_tbank_two_stage_terminal_holds_until_confirm(sandbox, receiver):
    """Does a two-stage terminal stop a paid payment at AUTHORIZED (one AUTHORIZED notification), and Confirm
    move it to CONFIRMED once (a second Confirm refused as a wrong status, a CONFIRMED notification sent)?"""
    terminal = account(sandbox, "tbank", two_stage=True, notification_url=receiver.url)
    assert "two_stage" not in terminal["credentials"]
    payment_id = tbank(sandbox, terminal, "Init", Amount=150000, OrderId="hold")["PaymentId"]
    sandbox.post(f"/_sandbox/providers/tbank/payments/{payment_id}/pay", json={"action": "pay"})
    assert tbank(sandbox, terminal, "GetState", PaymentId=payment_id)["Status"] == "AUTHORIZED"
    assert json.loads(receiver.wait_for(1)[0])["Status"] == "AUTHORIZED"
    confirmed = tbank(sandbox, terminal, "Confirm", PaymentId=payment_id)
    assert (confirmed["Success"], confirmed["Status"]) == (True, "CONFIRMED")
    again = tbank(sandbox, terminal, "Confirm", PaymentId=payment_id)
    assert (again["Success"], again["ErrorCode"]) == (False, "3")
    assert json.loads(receiver.wait_for(2)[1])["Status"] == "CONFIRMED"
    assert tbank(sandbox, terminal, "GetState", PaymentId=payment_id)["Status"] == "CONFIRMED"


def test_tbank_init_and_errors(sandbox):
    """Does Init answer NEW with a PaymentURL, 204 on a bad token, 501 on an unknown terminal, 20 on a reused OrderId?"""
    terminal = account(sandbox, "tbank")
    ok = tbank(sandbox, terminal, "Init", Amount=150000, OrderId="o-1", Description="Тест")
    assert (ok["Success"], ok["ErrorCode"], ok["Status"], ok["Amount"]) == (True, "0", "NEW", 150000)
    assert "/_sandbox/providers/pay/tbank/" + ok["PaymentId"] in ok["PaymentURL"]
    forged = sandbox.post("/tbank/v2/Init", json={"TerminalKey": terminal["terminal_key"], "Amount": 1,
                                                  "OrderId": "o-2", "Token": "0" * 64}).get_json()
    assert (forged["Success"], forged["ErrorCode"]) == (False, "204")
    unknown = tbank(sandbox, {"terminal_key": "NopeDEMO", "password": "x"}, "Init", Amount=1, OrderId="o")
    assert unknown["ErrorCode"] == "501"
    again = tbank(sandbox, terminal, "Init", Amount=150000, OrderId="o-1")
    assert (again["Success"], again["ErrorCode"]) == (False, "20")


@pytest.mark.parametrize("amount", [0, -5, "100", 1.5, True])
def test_tbank_amount_is_integer_kopecks(sandbox, amount):
    """Is an Amount that is not a positive integer of kopecks refused?"""
    terminal = account(sandbox, "tbank")
    body = {"TerminalKey": terminal["terminal_key"], "Amount": amount, "OrderId": "o"}
    body["Token"] = tbank_token(body, terminal["password"])
    answer = sandbox.post("/tbank/v2/Init", data=json.dumps(body), content_type="application/json").get_json()
    assert answer["Success"] is False and answer["ErrorCode"] != "0"


def test_tbank_get_qr(sandbox):
    """Does GetQr give an SBP link with the amount, an SVG image on request, and refuse under 10 ₽?"""
    terminal = account(sandbox, "tbank")
    payment = tbank(sandbox, terminal, "Init", Amount=250000, OrderId="qr-1")
    link = tbank(sandbox, terminal, "GetQr", PaymentId=payment["PaymentId"], DataType="PAYLOAD")["Data"]
    assert SBP_LINK.fullmatch(link) and SBP_LINK.fullmatch(link)[1] == "250000"
    image = tbank(sandbox, terminal, "GetQr", PaymentId=payment["PaymentId"], DataType="IMAGE")["Data"]
    assert image.startswith("<svg")
    small = tbank(sandbox, terminal, "Init", Amount=999, OrderId="qr-2")
    assert tbank(sandbox, terminal, "GetQr", PaymentId=small["PaymentId"])["Success"] is False


def test_tbank_lifecycle(sandbox):
    """NEW → FORM_SHOWED on the page → CONFIRMED when paid → REFUNDED by Cancel; CheckOrder lists it."""
    terminal = account(sandbox, "tbank")
    payment_id = tbank(sandbox, terminal, "Init", Amount=150000, OrderId="life")["PaymentId"]
    assert sandbox.get(f"/_sandbox/providers/pay/tbank/{payment_id}").status_code == 200
    assert tbank(sandbox, terminal, "GetState", PaymentId=payment_id)["Status"] == "FORM_SHOWED"
    sandbox.post(f"/_sandbox/providers/tbank/payments/{payment_id}/pay", json={"action": "pay"})
    assert tbank(sandbox, terminal, "GetState", PaymentId=payment_id)["Status"] == "CONFIRMED"
    order = tbank(sandbox, terminal, "CheckOrder", OrderId="life")
    assert [(p["PaymentId"], p["Status"]) for p in order["Payments"]] == [(payment_id, "CONFIRMED")]
    assert tbank(sandbox, terminal, "Cancel", PaymentId=payment_id)["Status"] == "REFUNDED"
    assert tbank(sandbox, terminal, "CheckOrder", OrderId="never")["Success"] is False


def test_tbank_redirect_due_date_expires_on_read(sandbox):
    """Does a payment past its RedirectDueDate read as DEADLINE_EXPIRED and refuse the payer?"""
    terminal = account(sandbox, "tbank", redirect_min_seconds=0)  # T-Bank's minute would make this wait a minute
    due = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat()
    payment_id = tbank(sandbox, terminal, "Init", Amount=150000, OrderId="late", RedirectDueDate=due)["PaymentId"]
    assert tbank(sandbox, terminal, "GetState", PaymentId=payment_id)["Status"] == "NEW"
    time.sleep(0.35)
    assert tbank(sandbox, terminal, "GetState", PaymentId=payment_id)["Status"] == "DEADLINE_EXPIRED"
    late = sandbox.post(f"/_sandbox/providers/tbank/payments/{payment_id}/pay", json={"action": "pay"})
    assert late.status_code == 409


# --- YooKassa -----------------------------------------------------------------------------------


def basic(shop: dict) -> dict:
    pair = f"{shop['shop_id']}:{shop['secret_key']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


PAYMENT = {"amount": {"value": "100.00", "currency": "RUB"}, "capture": True,
           "confirmation": {"type": "redirect", "return_url": "https://shop.example/back"},
           "description": "Заказ", "metadata": {"order_id": "o-1"}}


def test_yookassa_auth(sandbox):
    """Is Basic auth required (401 invalid_credentials without it or with a wrong key) and /me answered?"""
    shop = account(sandbox, "yookassa")
    assert sandbox.get("/yookassa/v3/me").status_code == 401
    wrong = sandbox.get("/yookassa/v3/me", headers=basic({**shop, "secret_key": "nope"}))
    assert wrong.status_code == 401 and wrong.get_json()["code"] == "invalid_credentials"
    me = sandbox.get("/yookassa/v3/me", headers=basic(shop)).get_json()
    assert me["account_id"] == shop["shop_id"]


def test_yookassa_idempotence(sandbox):
    """Key required; same key + same body → same answer and one payment; same key + other body → 400;
    keys are per shop."""
    shop, other_shop = account(sandbox, "yookassa"), account(sandbox, "yookassa")
    assert sandbox.post("/yookassa/v3/payments", json=PAYMENT, headers=basic(shop)).status_code == 400
    headers = {**basic(shop), "Idempotence-Key": "k-1"}
    first = sandbox.post("/yookassa/v3/payments", json=PAYMENT, headers=headers)
    second = sandbox.post("/yookassa/v3/payments", json=PAYMENT, headers=headers)
    assert first.status_code == second.status_code == 200 and first.get_json() == second.get_json()
    assert first.get_json()["status"] == "pending" and first.get_json()["amount"]["value"] == "100.00"
    changed = sandbox.post("/yookassa/v3/payments", json={**PAYMENT, "description": "other"}, headers=headers)
    assert changed.status_code == 400
    assert len(sandbox.get("/_sandbox/providers/yookassa/payments", query_string={"account": shop["shop_id"]})
               .get_json()) == 1
    theirs = sandbox.post("/yookassa/v3/payments", json=PAYMENT, headers={**basic(other_shop), "Idempotence-Key": "k-1"})
    assert theirs.get_json()["id"] != first.get_json()["id"]


@pytest.mark.parametrize("value", ["100.001", "1e2", "-1.00", "0.00", 100])
def test_yookassa_amount_is_exact_decimal_text(sandbox, value):
    """Is an amount that is not a positive decimal string with ≤2 places refused?"""
    shop = account(sandbox, "yookassa")
    body = {**PAYMENT, "amount": {"value": value, "currency": "RUB"}}
    answer = sandbox.post("/yookassa/v3/payments", json=body, headers={**basic(shop), "Idempotence-Key": "x"})
    assert answer.status_code == 400


def test_yookassa_read_cancel_and_isolation(sandbox):
    """Can a shop read only its own payments, and is cancelling a pending payment refused?"""
    shop, other_shop = account(sandbox, "yookassa"), account(sandbox, "yookassa")
    created = sandbox.post("/yookassa/v3/payments", json=PAYMENT,
                           headers={**basic(shop), "Idempotence-Key": "c"}).get_json()
    assert sandbox.get(f"/yookassa/v3/payments/{created['id']}", headers=basic(shop)).status_code == 200
    assert sandbox.get(f"/yookassa/v3/payments/{created['id']}", headers=basic(other_shop)).status_code == 404
    cancel = sandbox.post(f"/yookassa/v3/payments/{created['id']}/cancel",
                          headers={**basic(shop), "Idempotence-Key": "c2"}, json={})
    assert cancel.status_code == 400


def test_yookassa_expiry(sandbox):
    """After the shop's payment TTL, does a pending payment read as canceled / expired_on_confirmation?"""
    shop = account(sandbox, "yookassa", payment_ttl_seconds=1)
    created = sandbox.post("/yookassa/v3/payments", json=PAYMENT,
                           headers={**basic(shop), "Idempotence-Key": "e"}).get_json()
    sandbox.post(f"/_sandbox/providers/yookassa/payments/{created['id']}/expire")
    read = sandbox.get(f"/yookassa/v3/payments/{created['id']}", headers=basic(shop)).get_json()
    assert read["status"] == "canceled"
    assert read["cancellation_details"] == {"party": "yoo_money", "reason": "expired_on_confirmation"}


# --- YooMoney -----------------------------------------------------------------------------------


QUICKPAY = {"quickpay-form": "button", "paymentType": "AC", "sum": "250.50", "label": "inv-9",
            "successURL": "https://shop.example/ok", "targets": "Пополнение"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_yoomoney_quickpay_redirects_to_page(sandbox, method):
    """Does the quickpay form (GET or POST) lead to a page showing the amount and description?"""
    wallet = account(sandbox, "yoomoney")
    values = {**QUICKPAY, "receiver": wallet["wallet"]}
    if method == "GET":
        answer = sandbox.get("/yoomoney/quickpay/confirm", query_string=values)
    else:
        answer = sandbox.post("/yoomoney/quickpay/confirm", data=values)
    assert answer.status_code == 302
    page = sandbox.get(urlsplit(answer.headers["Location"]).path)
    html = page.get_data(as_text=True)
    assert "250.50" in html and "Пополнение" in html


def test_yoomoney_quickpay_bad_form(sandbox):
    """Is a form for an unknown wallet or with a malformed sum refused?"""
    wallet = account(sandbox, "yoomoney")
    assert sandbox.get("/yoomoney/quickpay/confirm", query_string={**QUICKPAY, "receiver": "41001"}).status_code == 400
    bad_sum = {**QUICKPAY, "receiver": wallet["wallet"], "sum": "10,5"}
    assert sandbox.get("/yoomoney/quickpay/confirm", query_string=bad_sum).status_code == 400


def test_yoomoney_api(sandbox):
    """Bearer required (401 + WWW-Authenticate); history by label with bare-number amounts; account-info."""
    wallet = account(sandbox, "yoomoney")
    denied = sandbox.post("/yoomoney/api/operation-history", data={"label": "inv-9"})
    assert denied.status_code == 401 and "invalid_token" in denied.headers["WWW-Authenticate"]
    auth = {"Authorization": f"Bearer {wallet['oauth_token']}"}
    location = sandbox.get("/yoomoney/quickpay/confirm",
                           query_string={**QUICKPAY, "receiver": wallet["wallet"]}).headers["Location"]
    sandbox.post(f"/_sandbox/providers/yoomoney/payments/{location.rsplit('/', 1)[1]}/pay", json={"action": "pay"})
    history = sandbox.post("/yoomoney/api/operation-history", data={"label": "inv-9"}, headers=auth)
    assert '"amount": 242.98' in history.get_data(as_text=True)  # 250.50 less the 3 % card fee, rounded up
    operation = history.get_json()["operations"][0]
    assert (operation["status"], operation["direction"], operation["label"]) == ("success", "in", "inv-9")
    assert sandbox.post("/yoomoney/api/operation-history", data={"label": "other"}, headers=auth) \
        .get_json()["operations"] == []
    info = sandbox.post("/yoomoney/api/account-info", headers=auth).get_json()
    assert info["account"] == wallet["wallet"]


# --- hosted page and cabinet ---------------------------------------------------------------------


def test_pay_page_is_self_contained_and_bilingual(sandbox):
    """Does the hosted page offer Pay/Decline in Russian and English with no external assets?"""
    terminal = account(sandbox, "tbank")
    payment_id = tbank(sandbox, terminal, "Init", Amount=123456, OrderId="page", Description="<b>x</b>")["PaymentId"]
    html = sandbox.get(f"/_sandbox/providers/pay/tbank/{payment_id}").get_data(as_text=True)
    assert "Оплатить / Pay" in html and "Отклонить / Decline" in html and "1234.56" in html
    assert "<b>x</b>" not in html  # escaped
    assert not re.search(r"""(src|href)=["']https?://""", html)


def test_decline_on_page_goes_to_fail_url(sandbox):
    """Does declining on the T-Bank page reject the payment and send the buyer to FailURL?"""
    terminal = account(sandbox, "tbank")
    payment_id = tbank(sandbox, terminal, "Init", Amount=150000, OrderId="d",
                       SuccessURL="https://s.example/ok", FailURL="https://s.example/fail")["PaymentId"]
    answer = sandbox.post(f"/_sandbox/providers/pay/tbank/{payment_id}", data={"action": "decline"})
    assert answer.status_code == 303 and answer.headers["Location"] == "https://s.example/fail"
    assert tbank(sandbox, terminal, "GetState", PaymentId=payment_id)["Status"] == "REJECTED"


def test_payer_endpoint_validation(sandbox):
    """Does the payer endpoint refuse bad actions/amounts, unknown payments, and a second payment (409)?"""
    terminal = account(sandbox, "tbank")
    payment_id = tbank(sandbox, terminal, "Init", Amount=150000, OrderId="v")["PaymentId"]
    url = f"/_sandbox/providers/tbank/payments/{payment_id}/pay"
    assert sandbox.post(url, json={"action": "steal"}).status_code == 400
    assert sandbox.post(url, json={"action": "pay", "amount": 1.5}).status_code == 400
    assert sandbox.post("/_sandbox/providers/tbank/payments/0/pay", json={}).status_code == 404
    paid = sandbox.post(url, json={"action": "pay", "amount": 140000}).get_json()
    assert (paid["status"], paid["paid_amount"]) == ("CONFIRMED", 140000)
    assert sandbox.post(url, json={"action": "pay"}).status_code == 409


def test_glitch_validation(sandbox):
    """Is an unknown glitch mode refused?"""
    assert sandbox.post("/_sandbox/providers/glitches", json={"path": "/x", "mode": "explode"}).status_code == 400


# --- notifications -------------------------------------------------------------------------------


def _tbank_paid(sandbox, receiver, **faults) -> str:
    if faults:
        assert sandbox.post("/_sandbox/faults", json=faults).status_code == 200
    terminal = account(sandbox, "tbank", notification_url=receiver.url)
    payment_id = tbank(sandbox, terminal, "Init", Amount=150000, OrderId="n")["PaymentId"]
    sandbox.post(f"/_sandbox/providers/tbank/payments/{payment_id}/pay", json={"action": "pay"})
    sandbox.post("/_sandbox/providers/notifications/wait", json={"timeout": 5})
    return payment_id


def test_tbank_notifications_signed_and_ordered(sandbox, receiver):
    """Does T-Bank send AUTHORIZED then CONFIRMED, each with a valid Token and Success=true?"""
    _tbank_paid(sandbox, receiver)
    bodies = [json.loads(b) for b in receiver.wait_for(2)]
    assert [b["Status"] for b in bodies] == ["AUTHORIZED", "CONFIRMED"]
    terminal = sandbox.get("/_sandbox/providers/tbank/accounts").get_json()[0]
    for body in bodies:
        assert body["Success"] is True and body["Token"] == tbank_token(body, terminal["password"])


def test_reorder_fault(sandbox, receiver):
    """With reorder_rate=1, does CONFIRMED arrive before AUTHORIZED?"""
    _tbank_paid(sandbox, receiver, reorder_rate=1.0)
    assert [json.loads(b)["Status"] for b in receiver.wait_for(2)] == ["CONFIRMED", "AUTHORIZED"]


def test_lose_fault_and_resend(sandbox, receiver):
    """With lose_rate=1, is nothing delivered (and logged as lost) — until the resend endpoint replays it?"""
    payment_id = _tbank_paid(sandbox, receiver, lose_rate=1.0)
    assert receiver.bodies == []
    log = sandbox.get("/_sandbox/providers/notifications", query_string={"payment_id": payment_id}).get_json()
    assert [e["outcome"] for e in log] == ["lost", "lost"]
    assert sandbox.post(f"/_sandbox/providers/notifications/resend/tbank/{payment_id}").get_json() == {"resent": 2}
    assert [json.loads(b)["Status"] for b in receiver.wait_for(2)] == ["AUTHORIZED", "CONFIRMED"]
    assert sandbox.post("/_sandbox/providers/notifications/resend/tbank/0").status_code == 404


def test_duplicate_fault(sandbox, receiver):
    """With duplicate_rate=1, does every notification arrive twice?"""
    _tbank_paid(sandbox, receiver, duplicate_rate=1.0)
    assert [json.loads(b)["Status"] for b in receiver.wait_for(4)] == ["AUTHORIZED", "AUTHORIZED",
                                                                       "CONFIRMED", "CONFIRMED"]


def test_yoomoney_notification_hash(sandbox, receiver):
    """Is the YooMoney notification form-encoded with a sha1_hash that an independent computation matches?"""
    wallet = account(sandbox, "yoomoney", notification_url=receiver.url)
    location = sandbox.get("/yoomoney/quickpay/confirm",
                           query_string={**QUICKPAY, "receiver": wallet["wallet"]}).headers["Location"]
    sandbox.post(f"/_sandbox/providers/yoomoney/payments/{location.rsplit('/', 1)[1]}/pay",
                 json={"action": "pay", "amount": 30000})
    fields = {k: v[0] for k, v in parse_qs(receiver.wait_for(1)[0].decode(), keep_blank_values=True).items()}
    assert receiver.headers[0]["Content-Type"] == "application/x-www-form-urlencoded"
    assert (fields["notification_type"], fields["withdraw_amount"], fields["label"]) == ("card-incoming", "300.00",
                                                                                         "inv-9")
    assert (fields["codepro"], fields["unaccepted"], fields["currency"]) == ("false", "false", "643")
    joined = "&".join([fields["notification_type"], fields["operation_id"], fields["amount"], fields["currency"],
                       fields["datetime"], fields["sender"], fields["codepro"], wallet["notification_secret"],
                       fields["label"]])
    assert fields["sha1_hash"] == hashlib.sha1(joined.encode()).hexdigest()


def test_yookassa_notification_shape(sandbox, receiver):
    """Is the YooKassa notification an unsigned JSON {"type":"notification","event":…,"object":payment}?"""
    shop = account(sandbox, "yookassa", notification_url=receiver.url)
    created = sandbox.post("/yookassa/v3/payments", json=PAYMENT,
                           headers={**basic(shop), "Idempotence-Key": "n"}).get_json()
    sandbox.post(f"/_sandbox/providers/yookassa/payments/{created['id']}/pay", json={"action": "pay"})
    body = json.loads(receiver.wait_for(1)[0])
    assert (body["type"], body["event"]) == ("notification", "payment.succeeded")
    assert body["object"]["id"] == created["id"] and body["object"]["status"] == "succeeded"
    assert body["object"]["paid"] is True and body["object"]["amount"] == {"value": "100.00", "currency": "RUB"}
