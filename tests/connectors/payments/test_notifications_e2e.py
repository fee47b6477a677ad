"""Notifications delivered by the sandbox over HTTP to a receiver, then verified by the adapters."""
from __future__ import annotations

import uuid

import pytest
import requests


def _pay_on_hosted_page(pay_url: str, action: str = "pay") -> requests.Response:
    page = requests.get(pay_url, timeout=5)
    assert page.status_code == 200 and "Оплатить / Pay" in page.text
    return requests.post(pay_url, data={"action": action}, allow_redirects=False, timeout=5)


def test_tbank_delivers_authorized_then_confirmed(cabinet, receiver, adapter, invoice):
    """Does paying on the T-Bank page redirect to the return URL and deliver AUTHORIZED then CONFIRMED,
    both verifiable, to the invoice's NotificationURL?"""
    terminal = cabinet.terminal()  # no account URL: the per-payment NotificationURL must be used
    tbank = adapter("tbank", terminal)
    req = invoice(notification_url=receiver.url)
    created = tbank.create_invoice(req, "k")
    answer = _pay_on_hosted_page(created.pay_url)
    assert answer.status_code == 303 and answer.headers["Location"] == req.return_url
    calls = receiver.wait_for(2)
    notes = [tbank.parse_notification(c.headers, c.body, c.remote_addr) for c in calls]
    assert [(n.status, n.amount, n.order_id) for n in notes] == [("pending", req.amount, req.order_id),
                                                                 ("paid", req.amount, req.order_id)]
    assert {n.provider_payment_id for n in notes} == {created.provider_payment_id}


def test_tbank_retries_until_ok(cabinet, receiver, adapter, invoice):
    """Is a T-Bank notification repeated until the receiver answers exactly "OK"?"""
    tbank = adapter("tbank", cabinet.terminal(notification_url=receiver.url))
    receiver.replies = [("ok", 200), ("OK", 500)]
    created = tbank.create_invoice(invoice(), "k")
    cabinet.pay("tbank", created.provider_payment_id)
    cabinet.wait_notifications()
    statuses = [tbank.parse_notification({}, c.body, None).event_key.rsplit(":", 1)[1] for c in receiver.calls]
    assert statuses == ["AUTHORIZED", "AUTHORIZED", "AUTHORIZED", "CONFIRMED"]


def test_yookassa_delivers_from_loopback(cabinet, receiver, adapter, invoice):
    """Does the YooKassa notification arrive from 127.0.0.1, pass the IP check, and get confirmed by GET?"""
    yookassa = adapter("yookassa", cabinet.shop(notification_url=receiver.url))
    created = yookassa.create_invoice(invoice(), str(uuid.uuid4()))
    answer = _pay_on_hosted_page(created.pay_url)
    assert answer.status_code == 303
    call = receiver.wait_for(1)[0]
    assert call.remote_addr == "127.0.0.1"
    note = yookassa.parse_notification(call.headers, call.body, call.remote_addr)
    assert note.needs_refetch and note.provider_payment_id == created.provider_payment_id
    assert yookassa.get_status(note.provider_payment_id).status == "paid"


def test_yoomoney_delivers_signed_form(cabinet, receiver, adapter, invoice):
    """Does the YooMoney notification arrive form-encoded with a valid sha1 and the paid amount?"""
    yoomoney = adapter("yoomoney", cabinet.wallet(notification_url=receiver.url))
    req = invoice(amount=77_700)
    created = yoomoney.create_invoice(req, "k")
    landing = requests.get(created.pay_url, timeout=5)  # follows the quickpay redirect to the page
    assert landing.status_code == 200 and "777.00" in landing.text
    answer = requests.post(landing.url, data={"action": "pay"}, allow_redirects=False, timeout=5)
    assert answer.headers["Location"] == req.return_url
    call = receiver.wait_for(1)[0]
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    note = yoomoney.parse_notification(call.headers, call.body, call.remote_addr)
    assert (note.order_id, note.amount, note.status) == (req.order_id, 77_700, "paid")


def test_replay_has_the_same_event_key(cabinet, receiver, adapter, invoice):
    """Is a replayed notification byte-identical, so its event key dedups it?"""
    yoomoney = adapter("yoomoney", cabinet.wallet(notification_url=receiver.url))
    created = yoomoney.create_invoice(invoice(), "k")
    session_id = cabinet.open_quickpay(created.pay_url)
    cabinet.pay("yoomoney", session_id)
    receiver.wait_for(1)
    assert cabinet.resend("yoomoney", session_id) == {"resent": 1}
    first, replay = receiver.wait_for(2)
    assert first.body == replay.body
    keys = {yoomoney.parse_notification({}, c.body, None).event_key for c in (first, replay)}
    assert len(keys) == 1


@pytest.mark.parametrize("kind", ["tbank", "yookassa"])
def test_duplicates_share_event_keys(cabinet, receiver, adapter, invoice, kind):
    """With duplicate_rate=1, does each notification arrive twice with the same event key?"""
    account = cabinet.terminal(notification_url=receiver.url) if kind == "tbank" \
        else cabinet.shop(notification_url=receiver.url)
    provider = adapter(kind, account)
    created = provider.create_invoice(invoice(), str(uuid.uuid4()))
    cabinet.faults(duplicate_rate=1.0)
    cabinet.pay(kind, created.provider_payment_id)
    cabinet.wait_notifications()
    keys = [provider.parse_notification({}, c.body, "127.0.0.1").event_key for c in receiver.calls]
    assert len(keys) == 2 * len(set(keys)) and keys
