"""Provider notifications at /hooks/<kind>/<token>: verified, stored once, answered as the provider expects."""
from __future__ import annotations

import importlib.util
import json
import logging
import uuid
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from rq.job import Job

from app.database import utcnow
from app.extensions import db
from app.market import payment_forms
from app.models import PaymentForm
from app.models.provider_event import ProviderEvent
from app.redis_client import get_redis
from sandbox.providers.common import tbank_token, yoomoney_sha1
from sandbox.server import serve
from tests.provider_sandbox import add_form, make_invoice

KINDS = ["yoomoney", "yookassa", "tbank"]
SETTLEMENT_JOB = "app.jobs.invoices.process_provider_event"
#: the credential that names the provider account (to set its notification URL in the sandbox cabinet)
ACCOUNT_KEY = {"yoomoney": "wallet", "yookassa": "shop_id", "tbank": "terminal_key"}
#: what each provider must get back for a notification it should stop sending
ACCEPTED = {"yoomoney": "", "yookassa": "", "tbank": "OK"}


def _tbank_body(credentials: dict, status: str = "CONFIRMED", order_id: str = "inv-1", amount: int = 150_000,
                payment_id: int = 7001, password: str | None = None) -> bytes:
    body = {"TerminalKey": credentials["terminal_key"], "OrderId": order_id, "Success": True, "Status": status,
            "PaymentId": payment_id, "ErrorCode": "0", "Amount": amount, "CardId": 322264,
            "Pan": "430000******0777", "ExpDate": "1130"}
    body["Token"] = tbank_token(body, password or credentials["password"])
    return json.dumps(body, ensure_ascii=False).encode()


def _yoomoney_body(credentials: dict, label: str = "inv-1", operation_id: str = "900000000001",
                   secret: str | None = None) -> bytes:
    # a card payment of 1500 ₽: the signed amount is what the wallet got after YooMoney's 3 % fee
    fields = {"notification_type": "card-incoming", "operation_id": operation_id, "amount": "1455.00",
              "withdraw_amount": "1500.00", "currency": "643", "datetime": "2026-11-28T10:00:00.000+03:00",
              "sender": "", "codepro": "false", "label": label, "unaccepted": "false"}
    fields["sha1_hash"] = yoomoney_sha1(fields, secret or credentials["notification_secret"])
    return urlencode(fields).encode()


def _yookassa_body(payment_id: str = "2e9b8f1a-000f-5000-9000-1a2b3c4d5e6f", order_id: str = "inv-1") -> bytes:
    body = {"type": "notification", "event": "payment.succeeded",
            "object": {"id": payment_id, "status": "succeeded", "paid": True,
                       "amount": {"value": "1500.00", "currency": "RUB"}, "metadata": {"order_id": order_id}}}
    return json.dumps(body).encode()


def _valid_body(kind: str, credentials: dict) -> tuple[bytes, str]:
    if kind == "tbank":
        return _tbank_body(credentials), "application/json"
    if kind == "yoomoney":
        return _yoomoney_body(credentials), "application/x-www-form-urlencoded"
    return _yookassa_body(), "application/json"


@pytest.fixture
def hook(seller_app, providers):
    """``hook(kind)`` → (form id, hook path, credentials) of a fresh seller form."""

    def make(kind: str):
        with seller_app.app_context(), seller_app.test_request_context():
            _, form, credentials = add_form(providers, kind, f"{kind}-{uuid.uuid4().hex[:6]}@example.com")
            return form.id, f"/hooks/{kind}/{form.hook_token}", credentials

    return make


def _events(app) -> list[ProviderEvent]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ProviderEvent).order_by(ProviderEvent.id)))


def _assert_settlement_queued(app, event_ids: list[int]) -> None:
    if importlib.util.find_spec("app.jobs.invoices") is None:
        return  # the settlement job is not written yet; the row itself is what the sweeper re-drives
    with app.app_context():
        redis = get_redis()
        for event_id in event_ids:
            job = Job.fetch(f"provider-event-{event_id}", connection=redis)
            assert job.func_name == SETTLEMENT_JOB and job.args == (event_id,)


@pytest.mark.parametrize("kind", KINDS)
def test_a_valid_notification_is_stored_once_and_queued(seller_app, hook, kind):
    """Is a valid notification of each provider answered as it expects, stored, and its settlement queued?"""
    form_id, path, credentials = hook(kind)
    body, content_type = _valid_body(kind, credentials)
    response = seller_app.test_client().post(path, data=body, content_type=content_type)
    assert response.status_code == 200 and response.get_data(as_text=True) == ACCEPTED[kind]
    [event] = _events(seller_app)
    assert (event.kind, event.payment_form_id, event.order_id, event.status) == (kind, form_id, "inv-1", "paid")
    assert event.processed_at is None and event.needs_refetch == (kind == "yookassa")
    if kind != "yookassa":
        assert event.amount == 150_000
    _assert_settlement_queued(seller_app, [event.id])


@pytest.mark.parametrize("kind", KINDS)
def test_a_replay_changes_nothing(seller_app, hook, kind):
    """Is the same notification sent twice answered the same both times but stored (and queued) once?"""
    _, path, credentials = hook(kind)
    body, content_type = _valid_body(kind, credentials)
    client = seller_app.test_client()
    answers = [client.post(path, data=body, content_type=content_type) for _ in range(2)]
    assert [(a.status_code, a.get_data(as_text=True)) for a in answers] == [(200, ACCEPTED[kind])] * 2
    assert len(_events(seller_app)) == 1


def test_tbank_authorized_and_confirmed_are_two_events(seller_app, hook):
    """Are T-Bank's AUTHORIZED and CONFIRMED for one payment two events (each stored once)?"""
    _, path, credentials = hook("tbank")
    client = seller_app.test_client()
    for status in ("AUTHORIZED", "CONFIRMED", "CONFIRMED"):
        client.post(path, data=_tbank_body(credentials, status), content_type="application/json")
    assert [(e.event_key, e.status) for e in _events(seller_app)] == [
        ("tbank:7001:AUTHORIZED", "pending"), ("tbank:7001:CONFIRMED", "paid")]


@pytest.mark.parametrize("kind", ["tbank", "yoomoney"])
def test_a_forged_signature_is_rejected_and_logged_without_secrets(seller_app, hook, caplog, kind):
    """Is a notification signed with the wrong secret refused (never "OK"), logged with a reason, and not stored?"""
    _, path, credentials = hook(kind)
    if kind == "tbank":
        body = _tbank_body(credentials, password="guessed-password")
    else:
        body = _yoomoney_body(credentials, secret="guessed-secret")
    # Alembic's fileConfig (the migrations ran in this process) disables loggers that existed then.
    service_logger = logging.getLogger("app.market.provider_events")
    was_disabled, service_logger.disabled = service_logger.disabled, False
    try:
        with caplog.at_level(logging.INFO):
            response = seller_app.test_client().post(path, data=body, content_type="application/json")
    finally:
        service_logger.disabled = was_disabled
    assert response.status_code == 400 and response.get_data(as_text=True) != "OK"
    assert _events(seller_app) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "rejected" in logged and ("bad Token" in logged or "bad sha1_hash" in logged)
    for secret in [*credentials.values(), body.decode()]:
        if len(secret) > 8:
            assert secret not in logged


def test_tampered_amount_is_rejected(seller_app, hook):
    """Is a validly signed T-Bank body whose amount was changed afterwards refused?"""
    _, path, credentials = hook("tbank")
    body = json.loads(_tbank_body(credentials))
    body["Amount"] = 1
    response = seller_app.test_client().post(path, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and _events(seller_app) == []


def test_yookassa_from_a_foreign_address_is_rejected(seller_app, hook):
    """Is an (unsigned) YooKassa notification from outside YooKassa's networks refused and not stored?"""
    _, path, _ = hook("yookassa")
    response = seller_app.test_client().post(path, data=_yookassa_body(), content_type="application/json",
                                             environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 400 and _events(seller_app) == []


def test_forwarded_for_header_does_not_fake_the_address(seller_app, hook):
    """Does an X-Forwarded-For header claiming a YooKassa address leave the real (foreign) sender refused?"""
    _, path, _ = hook("yookassa")
    response = seller_app.test_client().post(
        path, data=_yookassa_body(), content_type="application/json",
        headers={"X-Forwarded-For": "127.0.0.1"}, environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 400 and _events(seller_app) == []


@pytest.mark.parametrize("kind,body", [
    ("tbank", b"{not json"), ("tbank", b"[]"), ("tbank", b'{"TerminalKey": "x"}'),
    ("yoomoney", b"\xff\xfe"), ("yoomoney", b"label=a&label=b"), ("yoomoney", b"notification_type=p2p"),
    ("yookassa", b"{"), ("yookassa", b'{"type": "notification", "event": "payment.succeeded"}'),
    ("tbank", b""),
])
def test_malformed_bodies_are_rejected(seller_app, hook, kind, body):
    """Is a body that is not a well-formed notification of the provider refused with 400, storing nothing?"""
    _, path, _ = hook(kind)
    response = seller_app.test_client().post(path, data=body, content_type="application/json")
    assert response.status_code == 400 and _events(seller_app) == []


def test_unknown_addresses_are_not_found(seller_app, hook):
    """Do an unknown token, the right token under another kind, and an unknown kind all answer 404?"""
    _, path, credentials = hook("tbank")
    token = path.rsplit("/", 1)[1]
    body = _tbank_body(credentials)
    client = seller_app.test_client()
    for url in (f"/hooks/tbank/{'x' * 32}", f"/hooks/yoomoney/{token}", f"/hooks/yookassa/{token}",
                f"/hooks/paypal/{token}", f"/hooks/tbank/{'y' * 200}"):
        response = client.post(url, data=body, content_type="application/json")
        assert response.status_code == 404, url
    assert client.get(path).status_code == 405
    assert _events(seller_app) == []


def test_a_deleted_form_no_longer_receives(seller_app, hook):
    """Once a form is deleted, does its notification address answer 404?"""
    form_id, path, credentials = hook("tbank")
    with seller_app.app_context():
        db.session.get(PaymentForm, form_id).deleted_at = utcnow()
        db.session.commit()
    response = seller_app.test_client().post(path, data=_tbank_body(credentials), content_type="application/json")
    assert response.status_code == 404 and _events(seller_app) == []


def test_a_disabled_form_still_receives(seller_app, hook):
    """Does a disabled form still accept notifications (its open invoices must settle)?"""
    form_id, path, credentials = hook("tbank")
    with seller_app.app_context():
        db.session.get(PaymentForm, form_id).enabled = False
        db.session.commit()
    response = seller_app.test_client().post(path, data=_tbank_body(credentials), content_type="application/json")
    assert response.get_data(as_text=True) == "OK" and len(_events(seller_app)) == 1


def test_oversized_bodies_are_refused(seller_app, hook):
    """Is a body far larger than any notification refused before it is read?"""
    _, path, _ = hook("yookassa")
    response = seller_app.test_client().post(path, data=b"{" + b" " * 100_000 + b"}",
                                             content_type="application/json")
    assert response.status_code == 413 and _events(seller_app) == []


def test_no_csrf_token_or_session_is_needed(app_factory, sandbox_config, providers):
    """With CSRF enforced and no session at all, is a signed notification accepted?"""
    app = app_factory(**sandbox_config, WTF_CSRF_ENABLED=True)
    with app.app_context(), app.test_request_context():
        _, form, credentials = add_form(providers, "tbank")
        path = f"/hooks/tbank/{form.hook_token}"
    response = app.test_client().post(path, data=_tbank_body(credentials), content_type="application/json")
    assert response.status_code == 200 and response.get_data(as_text=True) == "OK"


# --- end to end: the sandbox providers POST to the app served on a real port -----------------------


@pytest.fixture
def live_app(app_factory, sandbox_config):
    """The app served on a free loopback port, with PUBLIC_BASE_URL pointing at it."""
    app = app_factory(**sandbox_config)
    running = serve(app)
    app.config["PUBLIC_BASE_URL"] = running.url
    yield app
    running.stop()


def _pay(providers, kind: str, created) -> str:
    payment_id = created.provider_payment_id
    if kind == "yoomoney":
        payment_id = providers.open_quickpay(created.pay_url)
    providers.pay(kind, payment_id)
    providers.wait_notifications()
    return payment_id


@pytest.mark.parametrize("kind", KINDS)
def test_sandbox_provider_delivers_to_the_live_app(live_app, providers, kind):
    """Does each sandbox provider's real notification, POSTed to the served app, verify and store once,
    with the adapter built from the seller's form creating, reading and cancelling invoices?"""
    with live_app.app_context(), live_app.test_request_context():
        _, form, credentials = add_form(providers, kind)
        url = payment_forms.notification_url(form)
        key = ACCOUNT_KEY[kind]
        providers.account(kind, **{key: credentials[key], "notification_url": url})
        adapter = payment_forms.adapter_of(form)
        form_id = form.id
    assert url.startswith(live_app.config["PUBLIC_BASE_URL"] + f"/hooks/{kind}/")

    invoice = make_invoice()
    created = adapter.create_invoice(invoice, str(uuid.uuid4()))
    assert adapter.get_status(created.provider_payment_id).status == "pending"
    payment_id = _pay(providers, kind, created)
    assert adapter.get_status(created.provider_payment_id).status == "paid"

    events = _events(live_app)
    assert {(e.payment_form_id, e.order_id) for e in events} == {(form_id, invoice.order_id)}
    assert events[-1].status == "paid"
    log = providers.notification_log(kind, payment_id)
    assert log and all(entry["outcome"] == "accepted" for entry in log), log
    _assert_settlement_queued(live_app, [e.id for e in events])

    providers.resend(kind, payment_id)  # a replay from the provider itself
    providers.wait_notifications()
    assert len(_events(live_app)) == len(events)

    second = adapter.create_invoice(make_invoice(), str(uuid.uuid4()))
    after_cancel = adapter.cancel(second.provider_payment_id)
    assert after_cancel.status in ({"pending"} if kind != "tbank" else {"failed"})
