"""The YooKassa adapter against the sandbox over real HTTP."""
from __future__ import annotations

import json
import uuid

import pytest

from app.connectors.payments import (
    InvalidCredentials,
    NotificationRejected,
    ProviderError,
    ProviderUnavailable,
)
from app.connectors.payments.yookassa import DEFAULT_NOTIFY_IPS, YooKassaAdapter

PAYMENTS = "/yookassa/v3/payments"


@pytest.fixture
def shop(cabinet, receiver):
    return cabinet.shop(notification_url=receiver.url)


@pytest.fixture
def yookassa(adapter, shop):
    return adapter("yookassa", shop)


def key() -> str:
    return str(uuid.uuid4())


def test_check_credentials(yookassa, adapter, shop):
    """Is a good shop accepted (GET /me) and a wrong secret key refused as InvalidCredentials?"""
    yookassa.check_credentials()
    with pytest.raises(InvalidCredentials):
        adapter("yookassa", {"credentials": {**shop["credentials"], "secret_key": "test_wrong"}}).check_credentials()


def test_create_and_read(yookassa, cabinet, invoice):
    """Does create send the amount as an exact "R.KK" string with our order id, and read back pending?"""
    req = invoice(amount=123_45)
    created = yookassa.create_invoice(req, key())
    assert created.raw_status == "pending" and created.sbp_payload is None
    assert "/_sandbox/providers/pay/yookassa/" in created.pay_url
    api = cabinet.payment("yookassa", created.provider_payment_id)["api"]
    assert api["amount"] == {"value": "123.45", "currency": "RUB"}
    assert api["metadata"] == {"order_id": req.order_id}
    status = yookassa.get_status(created.provider_payment_id)
    assert (status.status, status.amount_paid, status.provider_payment_id) == ("pending", None,
                                                                                created.provider_payment_id)


def test_pay_then_paid(yookassa, cabinet, invoice):
    """After the buyer pays, is the status paid with the amount in kopecks?"""
    created = yookassa.create_invoice(invoice(amount=99_999), key())
    cabinet.pay("yookassa", created.provider_payment_id)
    status = yookassa.get_status(created.provider_payment_id)
    assert (status.status, status.amount_paid, status.raw_status) == ("paid", 99_999, "succeeded")


def test_decline_then_failed(yookassa, cabinet, invoice):
    """After a declined card, is the status failed (canceled, not expired)?"""
    created = yookassa.create_invoice(invoice(), key())
    cabinet.pay("yookassa", created.provider_payment_id, action="decline")
    assert yookassa.get_status(created.provider_payment_id).status == "failed"


def test_expiry_then_expired(yookassa, cabinet, invoice):
    """Once the confirmation window passes, does the payment read as expired (expired_on_confirmation)?"""
    created = yookassa.create_invoice(invoice(), key())
    cabinet.expire("yookassa", created.provider_payment_id)
    status = yookassa.get_status(created.provider_payment_id)
    assert (status.status, status.raw_status) == ("expired", "canceled")


def test_cancel_pending_is_not_possible(yookassa, cabinet, invoice):
    """Does cancel report a pending payment as still pending (YooKassa cancels only waiting_for_capture)?"""
    created = yookassa.create_invoice(invoice(), key())
    assert yookassa.cancel(created.provider_payment_id).status == "pending"
    cabinet.pay("yookassa", created.provider_payment_id)
    assert yookassa.cancel(created.provider_payment_id).status == "paid"


def test_retry_after_5xx_keeps_one_payment(yookassa, cabinet, invoice):
    """When the create is processed but answered 500, does the retry with the same key return the same payment?"""
    req = invoice()
    cabinet.glitch(PAYMENTS, "error_after", status=500)
    created = yookassa.create_invoice(req, key())
    payments = cabinet.payments("yookassa", order_id=req.order_id)
    assert [p["id"] for p in payments] == [created.provider_payment_id]


def test_retry_after_timeout_keeps_one_payment(yookassa, cabinet, invoice):
    """When the create's answer is lost to a timeout, does the same-key retry give the same single payment?"""
    req = invoice()
    cabinet.glitch(PAYMENTS, "hang_after", seconds=0.5)
    created = yookassa.create_invoice(req, key())
    assert [p["id"] for p in cabinet.payments("yookassa", order_id=req.order_id)] == [created.provider_payment_id]


def test_caller_retry_with_saved_key(yookassa, cabinet, invoice):
    """When every attempt fails (unknown outcome), does the caller's later retry with the saved key create once?"""
    req, saved = invoice(), key()
    cabinet.faults(error_rate=1.0)
    with pytest.raises(ProviderUnavailable):
        yookassa.create_invoice(req, saved)
    cabinet.faults(error_rate=0.0)
    first = yookassa.create_invoice(req, saved)
    again = yookassa.create_invoice(req, saved)
    assert first.provider_payment_id == again.provider_payment_id
    assert len(cabinet.payments("yookassa", order_id=req.order_id)) == 1


def test_same_key_different_body_is_refused(yookassa, invoice):
    """Is reusing a key for a different invoice a definite ProviderError?"""
    saved = key()
    yookassa.create_invoice(invoice(), saved)
    with pytest.raises(ProviderError):
        yookassa.create_invoice(invoice(), saved)


def test_order_id_alone_is_unknown(yookassa):
    """Without a payment id, is the status "unknown" (YooKassa cannot search by our order id)?"""
    assert yookassa.get_status(order_id="inv-x").status == "unknown"


# --- notifications ------------------------------------------------------------------------------


def _body(payment_id: str = "2d9c3d14-000f-5000-9000-1b0f2c1a0a01", event: str = "payment.succeeded",
          status: str = "succeeded") -> bytes:
    return json.dumps({"type": "notification", "event": event, "object": {
        "id": payment_id, "status": status, "paid": True, "amount": {"value": "100.00", "currency": "RUB"},
        "metadata": {"order_id": "inv-7"}}}).encode()


def test_notification_valid_needs_refetch(yookassa):
    """Is a notification from an allowed address accepted but marked for a confirming GET?"""
    note = yookassa.parse_notification({}, _body(), "127.0.0.1")
    assert note.needs_refetch
    assert (note.status, note.amount, note.order_id) == ("paid", 10000, "inv-7")
    assert note.event_key == "yookassa:2d9c3d14-000f-5000-9000-1b0f2c1a0a01:payment.succeeded"
    assert tuple(yookassa.notification_response())[:2] == ("", 200)


@pytest.mark.parametrize("addr", ["10.0.0.1", "185.71.78.1", "", None, "not-an-ip", "::1"])
def test_notification_wrong_ip(yookassa, addr):
    """Is a notification from outside the configured networks rejected, whatever it says?"""
    with pytest.raises(NotificationRejected, match="networks"):
        yookassa.parse_notification({}, _body(), addr)


def test_default_networks_are_yookassas(shop):
    """By default, are YooKassa's published networks (and only they) trusted, IPv6 and mapped IPv4 included?"""
    adapter = YooKassaAdapter("http://x", shop["credentials"])
    assert adapter.notify_networks and len(adapter.notify_networks) == len(DEFAULT_NOTIFY_IPS)
    assert adapter.parse_notification({}, _body(), "185.71.76.5").needs_refetch
    assert adapter.parse_notification({}, _body(), "::ffff:77.75.156.11").needs_refetch
    assert adapter.parse_notification({}, _body(), "2a02:5180::1").needs_refetch
    with pytest.raises(NotificationRejected):
        adapter.parse_notification({}, _body(), "127.0.0.1")


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"type": "other"}', b"\xff"])
def test_notification_malformed(yookassa, body):
    """Is a body that is not a YooKassa notification rejected?"""
    with pytest.raises(NotificationRejected):
        yookassa.parse_notification({}, body, "127.0.0.1")


@pytest.mark.parametrize("body", [
    b'{"type": "notification", "object": {"id": "x", "status": "succeeded"}}',
    b'{"type": "notification", "event": "payment.succeeded"}',
    b'{"type": "notification", "event": "payment.succeeded", "object": {"status": "succeeded"}}',
])
def test_notification_missing_fields(yookassa, body):
    """Is a notification without event, object or object.id rejected?"""
    with pytest.raises(NotificationRejected, match="missing"):
        yookassa.parse_notification({}, body, "127.0.0.1")
