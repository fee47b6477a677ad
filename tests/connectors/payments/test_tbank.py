"""The T-Bank adapter against the sandbox over real HTTP."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from app import ledger
from app.connectors.payments import (
    InvalidCredentials,
    NotificationRejected,
    ProviderError,
    ProviderUnavailable,
)
from app.connectors.payments.signatures import tbank_token
from app.connectors.payments.tbank import REDIRECT_DUE_MIN, REDIRECT_DUE_SLACK, redirect_due_date
from app.core.settings import MIN_INVOICE_LIFETIME_SECONDS
from app.database import utcnow
from app.extensions import db
from app.jobs import invoices as invoices_jobs
from app.market import matching, payment_forms, provider_events, withdrawals
from app.models.market import Deposit
from app.models.provider_event import ProviderEvent
from tests.helpers import gen_user
from tests.market.conftest import _providers_server, market, market_app, providers  # noqa: F401  (fixtures)

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


# --- RedirectDueDate: T-Bank's one-minute minimum ---------------------------------------------


def _init_directly(terminal: dict, cabinet, **fields) -> dict:
    """Init as T-Bank receives it, without the adapter (to show what the sandbox refuses)."""
    body = {"TerminalKey": terminal["terminal_key"], "Amount": 150_000, "OrderId": f"raw-{time.time_ns()}", **fields}
    body["Token"] = tbank_token(body, terminal["password"])
    return requests.post(cabinet.url + INIT, json=body, timeout=5).json()


def test_the_sandbox_refuses_a_due_date_under_a_minute_ahead(terminal, cabinet):
    """Does the sandbox enforce the contract's limit (what made every 60-second invoice fail)?"""
    soon = datetime.now(UTC) + timedelta(seconds=59)
    assert _init_directly(terminal, cabinet, RedirectDueDate=soon.isoformat(timespec="seconds"))["Success"] is False
    far = datetime.now(UTC) + timedelta(days=91)
    assert _init_directly(terminal, cabinet, RedirectDueDate=far.isoformat(timespec="seconds"))["Success"] is False
    ok = datetime.now(UTC) + timedelta(seconds=90)
    assert _init_directly(terminal, cabinet, RedirectDueDate=ok.isoformat(timespec="seconds"))["Success"] is True


def test_an_invoice_of_the_shortest_lifetime_is_created(tbank, cabinet, invoice):
    """At the shortest invoice lifetime the settings allow — and a little later than that, as a busy worker
    gets to it — does Init succeed over real HTTP, with a due date T-Bank takes (≥ 1 min after receipt)?"""
    for late_by in (0, 5):
        sent_at = datetime.now(UTC)
        expires_at = sent_at + timedelta(seconds=MIN_INVOICE_LIFETIME_SECONDS - late_by)
        created = tbank.create_invoice(invoice(expires_at=expires_at), "k")
        due = datetime.fromisoformat(cabinet.payment("tbank", created.provider_payment_id)["expires_at"])
        assert due - sent_at >= REDIRECT_DUE_MIN + REDIRECT_DUE_SLACK
        assert due - expires_at <= REDIRECT_DUE_SLACK + timedelta(seconds=late_by + 2)  # open only a little longer


def test_a_long_lived_invoice_keeps_its_own_due_date_never_later():
    """Is a due date far enough ahead sent as the invoice's own expiry, rounded down (never after it)?"""
    now = datetime(2026, 12, 4, 12, 0, 0, 500_000, tzinfo=UTC)
    assert redirect_due_date(now + timedelta(minutes=15), now) == "2026-12-04T12:15:00+00:00"
    assert redirect_due_date(now + timedelta(seconds=60), now) == "2026-12-04T12:01:16+00:00"  # 1 min + slack, up
    assert redirect_due_date(now + timedelta(days=200), now) == "2027-03-04T12:00:00+00:00"  # 90 days at most


# --- two-stage terminals: Confirm ----------------------------------------------------------------


@pytest.fixture
def two_stage_terminal(cabinet, receiver):
    return cabinet.terminal(notification_url=receiver.url, two_stage=True)


def test_a_two_stage_payment_is_confirmed_once_by_the_status_read(adapter, two_stage_terminal, cabinet, invoice):
    """A two-stage terminal holds the paid payment at AUTHORIZED: does the status read Confirm it (paid, with
    the amount), and do further reads, a cancel and a second adapter never confirm it again?"""
    tbank = adapter("tbank", two_stage_terminal)
    created = tbank.create_invoice(invoice(amount=200_000), "k")
    cabinet.pay("tbank", created.provider_payment_id)
    assert cabinet.payment("tbank", created.provider_payment_id)["status"] == "AUTHORIZED"

    status = tbank.get_status(created.provider_payment_id)
    assert (status.status, status.amount_paid, status.raw_status) == ("paid", 200_000, "CONFIRMED")
    order_id = cabinet.payment("tbank", created.provider_payment_id)["order_id"]
    again = adapter("tbank", two_stage_terminal).get_status(order_id=order_id)
    assert (again.status, again.amount_paid) == ("paid", 200_000)
    assert tbank.cancel(created.provider_payment_id).status == "paid"  # a confirmed payment is not refunded
    seen = cabinet.payment("tbank", created.provider_payment_id)
    assert seen["status"] == "CONFIRMED" and seen["extra"]["confirmations"] == 1


def test_confirm_raced_or_repeated_captures_once(adapter, two_stage_terminal, cabinet, invoice):
    """Do two readers confirming the same AUTHORIZED payment at once capture it once (T-Bank refuses the
    second Confirm as a wrong status; the loser reads CONFIRMED)?"""
    created = adapter("tbank", two_stage_terminal).create_invoice(invoice(), "k")
    cabinet.pay("tbank", created.provider_payment_id)
    results, barrier = [], threading.Barrier(4)

    def read():
        reader = adapter("tbank", two_stage_terminal)
        barrier.wait()
        results.append(reader.confirm(created.provider_payment_id).status)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["paid"] * 4
    assert cabinet.payment("tbank", created.provider_payment_id)["extra"]["confirmations"] == 1


def test_an_unanswered_confirm_is_settled_by_reading_the_state(adapter, two_stage_terminal, cabinet, invoice):
    """When Confirm is processed but its answer is lost, is the state read the answer (paid), and when it
    never reached T-Bank, is the payment still pending (the next read confirms it)?"""
    tbank = adapter("tbank", two_stage_terminal)
    lost_answer = tbank.create_invoice(invoice(), "k")
    cabinet.pay("tbank", lost_answer.provider_payment_id)
    cabinet.glitch("/tbank/v2/Confirm", "hang_after", seconds=0.6)
    assert tbank.get_status(lost_answer.provider_payment_id).status == "paid"

    never_arrived = tbank.create_invoice(invoice(), "k")
    cabinet.pay("tbank", never_arrived.provider_payment_id)
    cabinet.glitch("/tbank/v2/Confirm", "error_before", status=503)
    first = tbank.get_status(never_arrived.provider_payment_id)
    assert (first.status, first.raw_status) == ("pending", "AUTHORIZED")
    assert tbank.get_status(never_arrived.provider_payment_id).status == "paid"
    assert cabinet.payment("tbank", never_arrived.provider_payment_id)["extra"]["confirmations"] == 1


def test_cancel_at_expiry_confirms_an_authorized_payment(adapter, two_stage_terminal, cabinet, invoice):
    """The buyer authorized just before the invoice expired: does the expiry's cancel confirm it (paid, so it
    settles) rather than leave the money held, and does an unpaid one still get cancelled?"""
    tbank = adapter("tbank", two_stage_terminal)
    paid = tbank.create_invoice(invoice(amount=120_000), "k")
    cabinet.pay("tbank", paid.provider_payment_id)
    assert (tbank.cancel(paid.provider_payment_id).status, "CONFIRMED") == (
        "paid", cabinet.payment("tbank", paid.provider_payment_id)["status"])
    unpaid = tbank.create_invoice(invoice(), "k")
    assert tbank.cancel(unpaid.provider_payment_id).raw_status == "CANCELED"


def test_an_authorized_notification_asks_for_a_re_read(adapter, two_stage_terminal, receiver, cabinet, invoice):
    """Is the AUTHORIZED notification of a two-stage payment flagged for re-reading (the re-read confirms it),
    while CONFIRMED is taken as it is?"""
    tbank = adapter("tbank", two_stage_terminal)
    created = tbank.create_invoice(invoice(notification_url=receiver.url), "k")
    cabinet.pay("tbank", created.provider_payment_id)
    authorized = tbank.parse_notification({}, receiver.wait_for(1)[0].body, None)
    assert (authorized.status, authorized.needs_refetch) == ("pending", True)
    assert tbank.get_status(created.provider_payment_id).status == "paid"
    confirmed = tbank.parse_notification({}, receiver.wait_for(2)[1].body, None)
    assert (confirmed.status, confirmed.needs_refetch) == ("paid", False)


# --- two-stage terminals on the platform: the notification, the poll and the sweeper -----------


def _two_stage_invoice(world):
    """A two-stage T-Bank seller, a buyer's deposit matched to it, and the buyer's authorized payment."""
    seller = gen_user("two-stage@example.com")
    world.fund(seller, 100_00)
    credentials = world.providers.post("/_sandbox/providers/tbank/accounts", {"two_stage": True})["credentials"]
    form = payment_forms.add_form(seller, "tbank", "two-stage terminal", credentials)
    withdrawals.create(seller, payment_form_id=form.id, amount=100_00, min_invoice_kopecks=100_00,
                       max_invoice_kopecks=10_000_00, max_open_invoices=3, request_key=uuid.uuid4().hex)
    db.session.commit()
    buyer = world.buyer()
    deposit = world.deposit(buyer, "tbank", 500_00)
    assert matching.match(deposit.id) == "awaiting_payment"
    db.session.commit()
    deposit = db.session.get(Deposit, deposit.id, populate_existing=True)
    world.providers.pay("tbank", deposit.provider_payment_id)
    return deposit, form, credentials, buyer


def _sandbox_payment(world, payment_id: str) -> dict:
    return world.providers.http.get(f"{world.providers.url}/_sandbox/providers/tbank/payments/{payment_id}",
                                     timeout=5).json()


def _settled_once(world, deposit, buyer) -> None:
    db.session.expire_all()
    assert db.session.get(Deposit, deposit.id).status == "settled"
    assert ledger.balance(ledger.wallet_of(buyer.id)).available == deposit.usd_cents - deposit.buyer_fee_cents
    seen = _sandbox_payment(world, deposit.provider_payment_id)
    assert (seen["status"], seen["extra"]["confirmations"]) == ("CONFIRMED", 1)
    assert ledger.verify_ledger().ok


def test_a_two_stage_payment_settles_from_its_authorized_notification(market):  # noqa: F811
    """The AUTHORIZED notification is stored for re-reading; processing it confirms the payment and settles
    the deposit once; the CONFIRMED notification that follows and a poll change nothing."""
    deposit, form, credentials, buyer = _two_stage_invoice(market)
    body = {"TerminalKey": credentials["terminal_key"], "OrderId": deposit.order_id, "Success": True,
            "Status": "AUTHORIZED", "PaymentId": int(deposit.provider_payment_id), "ErrorCode": "0",
            "Amount": deposit.amount_kopecks}
    body["Token"] = tbank_token(body, credentials["password"])
    accepted = provider_events.accept_notification("tbank", form.hook_token, {}, json.dumps(body).encode(), None)
    db.session.commit()
    assert db.session.get(ProviderEvent, accepted.event_id).needs_refetch
    assert invoices_jobs.process_event_now(accepted.event_id) == "settled"
    body.update(Status="CONFIRMED")
    body["Token"] = tbank_token({k: v for k, v in body.items() if k != "Token"}, credentials["password"])
    later = provider_events.accept_notification("tbank", form.hook_token, {}, json.dumps(body).encode(), None)
    db.session.commit()
    assert invoices_jobs.process_event_now(later.event_id) == "settled"  # already settled: nothing more
    assert invoices_jobs.poll_one(deposit.id) == "done"
    _settled_once(market, deposit, buyer)


def test_a_two_stage_payment_settles_from_the_poll_and_the_sweeper_re_drives_it(market):  # noqa: F811
    """With no notification (lost) and the first Confirm lost on its way, is the payment left pending, then
    confirmed and settled once by the next poll?"""
    deposit, _, _, buyer = _two_stage_invoice(market)
    market.providers.post("/_sandbox/providers/glitches", {"path": "/tbank/v2/Confirm", "mode": "error_before",
                                                           "status": 503})
    assert invoices_jobs.poll_one(deposit.id) == "pending"
    assert _sandbox_payment(market, deposit.provider_payment_id)["status"] == "AUTHORIZED"
    assert invoices_jobs.poll_one(deposit.id) == "settled"
    assert invoices_jobs.poll_one(deposit.id) == "done"
    _settled_once(market, deposit, buyer)


def test_a_two_stage_payment_authorized_at_the_last_moment_settles_at_expiry(market):  # noqa: F811
    """The invoice expires while the payment is AUTHORIZED: does the expiry confirm and settle it (the buyer
    paid in time) rather than expire the invoice with the buyer's money held?"""
    deposit, _, _, buyer = _two_stage_invoice(market)
    db.session.execute(sa.update(Deposit).where(Deposit.id == deposit.id).values(expires_at=utcnow()))
    db.session.commit()
    assert invoices_jobs.expire_one(deposit.id) == "settled"
    _settled_once(market, deposit, buyer)
