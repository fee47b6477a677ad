"""The T-Bank adapter against the sandbox over real HTTP."""
from __future__ import annotations

import json

import pytest

from app.connectors.payments import (
    InvalidCredentials,
    NotificationRejected,
    ProviderError,
    ProviderUnavailable,
)
from app.connectors.payments.signatures import tbank_token

INIT = "/tbank/v2/Init"


@pytest.fixture
def terminal(cabinet, receiver):
    return cabinet.terminal(notification_url=receiver.url)


@pytest.fixture
def tbank(adapter, terminal):
    return adapter("tbank", terminal)


def test_check_credentials(tbank, adapter, terminal):
    """Is a good terminal accepted, and a wrong password or unknown terminal refused as InvalidCredentials?"""
    tbank.check_credentials()
    with pytest.raises(InvalidCredentials):
        adapter("tbank", {"credentials": {**terminal["credentials"], "password": "wrong"}}).check_credentials()
    with pytest.raises(InvalidCredentials):
        adapter("tbank", {"credentials": {"terminal_key": "NoSuchTerminal", "password": "x"}}).check_credentials()


def test_create_and_read(tbank, cabinet, invoice):
    """Does Init give a pay page and an SBP link, with the amount in kopecks and our due date?"""
    req = invoice(amount=150_050)
    created = tbank.create_invoice(req, "ignored")
    assert created.raw_status == "NEW"
    assert "/_sandbox/providers/pay/tbank/" in created.pay_url
    assert created.sbp_payload.startswith("https://qr.nspk.ru/")
    assert "sum=150050" in created.sbp_payload
    seen = cabinet.payment("tbank", created.provider_payment_id)
    assert seen["amount"] == 150_050 and seen["order_id"] == req.order_id
    assert seen["expires_at"][:19] == req.expires_at.isoformat()[:19]

    status = tbank.get_status(created.provider_payment_id)
    assert (status.status, status.amount_paid, status.raw_status) == ("pending", None, "NEW")
    by_order = tbank.get_status(order_id=req.order_id)
    assert by_order.provider_payment_id == created.provider_payment_id


def test_small_amount_has_no_sbp(tbank, invoice):
    """Is an invoice under SBP's 10 ₽ minimum still created, just without an SBP payload?"""
    created = tbank.create_invoice(invoice(amount=500), "k")
    assert created.sbp_payload is None and created.pay_url


def test_pay_then_paid(tbank, cabinet, invoice):
    """After the buyer pays, is the status paid with the paid amount?"""
    created = tbank.create_invoice(invoice(amount=200_000), "k")
    cabinet.pay("tbank", created.provider_payment_id)
    status = tbank.get_status(created.provider_payment_id)
    assert (status.status, status.amount_paid, status.raw_status) == ("paid", 200_000, "CONFIRMED")


def test_decline_then_failed(tbank, cabinet, invoice):
    """After the buyer's card is declined, is the status failed?"""
    created = tbank.create_invoice(invoice(), "k")
    cabinet.pay("tbank", created.provider_payment_id, action="decline")
    assert tbank.get_status(created.provider_payment_id).status == "failed"


def test_expiry_then_expired(tbank, cabinet, invoice):
    """Past its RedirectDueDate, does a payment read as expired (DEADLINE_EXPIRED)?"""
    created = tbank.create_invoice(invoice(), "k")
    cabinet.expire("tbank", created.provider_payment_id)
    status = tbank.get_status(created.provider_payment_id)
    assert (status.status, status.raw_status) == ("expired", "DEADLINE_EXPIRED")


def test_cancel(tbank, cabinet, invoice):
    """Does cancel void an unpaid payment, and leave a paid one alone (no refund)?"""
    open_one = tbank.create_invoice(invoice(), "k")
    assert tbank.cancel(open_one.provider_payment_id).raw_status == "CANCELED"
    assert tbank.get_status(open_one.provider_payment_id).status == "failed"

    paid_one = tbank.create_invoice(invoice(), "k")
    cabinet.pay("tbank", paid_one.provider_payment_id)
    after = tbank.cancel(paid_one.provider_payment_id)
    assert (after.status, after.raw_status) == ("paid", "CONFIRMED")


def test_init_timeout_reconciles_without_duplicate(tbank, cabinet, invoice):
    """When Init is processed but its answer is lost (timeout), does CheckOrder find it — one payment only?"""
    req = invoice()
    cabinet.glitch(INIT, "hang_after", seconds=0.6)
    created = tbank.create_invoice(req, "k")
    payments = cabinet.payments("tbank", order_id=req.order_id)
    assert len(payments) == 1
    assert created.provider_payment_id == payments[0]["id"]
    assert created.pay_url == created.sbp_payload and created.sbp_payload.startswith("https://qr.nspk.ru/")


def test_init_5xx_after_processing_reconciles(tbank, cabinet, invoice):
    """When Init creates the payment but answers 500, is the existing payment returned (no second Init)?"""
    req = invoice()
    cabinet.glitch(INIT, "error_after", status=502)
    created = tbank.create_invoice(req, "k")
    assert [p["id"] for p in cabinet.payments("tbank", order_id=req.order_id)] == [created.provider_payment_id]


def test_init_lost_before_processing_is_retried(tbank, cabinet, invoice):
    """When Init never reached the provider (5xx before processing), does CheckOrder see nothing and Init once more?"""
    req = invoice()
    cabinet.glitch(INIT, "error_before", status=503)
    created = tbank.create_invoice(req, "k")
    assert created.pay_url.startswith("http") and "/pay/tbank/" in created.pay_url
    assert len(cabinet.payments("tbank", order_id=req.order_id)) == 1


def test_repeated_create_returns_same_payment(tbank, cabinet, invoice):
    """Does a caller's retry of the same order (OrderId reused, error 20) give back the same payment?"""
    req = invoice()
    first = tbank.create_invoice(req, "k")
    second = tbank.create_invoice(req, "k")
    assert second.provider_payment_id == first.provider_payment_id
    assert len(cabinet.payments("tbank", order_id=req.order_id)) == 1


def test_reused_order_of_dead_payment_is_an_error(tbank, invoice):
    """Is re-creating an order whose payment was cancelled a definite ProviderError (not a new payment)?"""
    req = invoice()
    created = tbank.create_invoice(req, "k")
    tbank.cancel(created.provider_payment_id)
    with pytest.raises(ProviderError) as caught:
        tbank.create_invoice(req, "k")
    assert caught.value.code == "20"


def test_unavailable_is_unknown(tbank, cabinet, invoice, adapter):
    """Do 5xx and a dead server surface as ProviderUnavailable (outcome unknown), not as failure?"""
    created = tbank.create_invoice(invoice(), "k")
    cabinet.faults(error_rate=1.0)
    with pytest.raises(ProviderUnavailable):
        tbank.get_status(created.provider_payment_id)
    with pytest.raises(ProviderUnavailable):
        tbank.create_invoice(invoice(), "k")
    cabinet.faults(error_rate=0.0)
    dead = adapter("tbank", {"credentials": {"terminal_key": "T", "password": "p"}})
    dead.base_url = "http://127.0.0.1:9"
    with pytest.raises(ProviderUnavailable):
        dead.get_status("1")


def test_status_read_survives_one_hang(tbank, cabinet, invoice):
    """Is a safe read retried after a timeout (GetState hangs once, then answers)?"""
    created = tbank.create_invoice(invoice(), "k")
    cabinet.glitch("/tbank/v2/GetState", "hang_before", seconds=0.5)
    assert tbank.get_status(created.provider_payment_id).status == "pending"


# --- notifications ------------------------------------------------------------------------------


def _signed(terminal: dict, **fields) -> bytes:
    body = {"TerminalKey": terminal["terminal_key"], "OrderId": "inv-1", "Success": True, "Status": "CONFIRMED",
            "PaymentId": 10000001, "ErrorCode": "0", "Amount": 150000, "CardId": 1, "Pan": "430000******0777",
            "ExpDate": "1130"}
    body.update(fields)
    body["Token"] = tbank_token(body, terminal["password"])
    return json.dumps(body).encode()


def test_notification_valid(tbank, terminal):
    """Is a correctly signed notification accepted with status, amount and a per-status event key?"""
    note = tbank.parse_notification({}, _signed(terminal), "203.0.113.5")
    assert (note.provider_payment_id, note.order_id, note.status, note.amount) == ("10000001", "inv-1", "paid", 150000)
    assert note.event_key == "tbank:10000001:CONFIRMED" and not note.needs_refetch
    authorized = tbank.parse_notification({}, _signed(terminal, Status="AUTHORIZED"), None)
    assert authorized.status == "pending" and authorized.event_key != note.event_key
    assert tuple(tbank.notification_response())[:2] == ("OK", 200)


def test_notification_forged(tbank, terminal):
    """Is a notification with a wrong token (or signed by another password) rejected?"""
    body = json.loads(_signed(terminal))
    body["Amount"] = 999_999
    with pytest.raises(NotificationRejected, match="Token"):
        tbank.parse_notification({}, json.dumps(body).encode(), None)
    other = {**terminal, "password": "not-the-password"}
    with pytest.raises(NotificationRejected):
        tbank.parse_notification({}, _signed(other), None)


def test_notification_other_terminal(tbank, terminal):
    """Is a (validly signed) notification for another terminal rejected?"""
    with pytest.raises(NotificationRejected, match="terminal"):
        tbank.parse_notification({}, _signed({**terminal, "terminal_key": "OtherDEMO"}), None)


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b"\xff\xfe\x00", b'{"Amount": 1.5}'])
def test_notification_malformed(tbank, body):
    """Is a body that is not a JSON object with the fields rejected, not crashed on?"""
    with pytest.raises(NotificationRejected):
        tbank.parse_notification({}, body, None)


def test_notification_missing_fields(tbank, terminal):
    """Is a signed notification missing a required field (OrderId) rejected?"""
    body = {"TerminalKey": terminal["terminal_key"], "Success": True, "Status": "CONFIRMED",
            "PaymentId": 1, "ErrorCode": "0", "Amount": 100}
    body["Token"] = tbank_token(body, terminal["password"])
    with pytest.raises(NotificationRejected, match="OrderId"):
        tbank.parse_notification({}, json.dumps(body).encode(), None)


def test_notification_amount_must_be_integer(tbank, terminal):
    """Is a signed notification whose Amount is not integer kopecks rejected?"""
    with pytest.raises(NotificationRejected, match="Amount"):
        tbank.parse_notification({}, _signed(terminal, Amount="150000"), None)
