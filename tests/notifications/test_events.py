"""Each kind of notification is made by the real event, once, however often the event is replayed."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from app.connectors.payments.base import InvalidCredentials
from app.core.settings import current_settings
from app.extensions import db
from app.jobs import invoices as invoice_jobs
from app.jobs.room import poll_room_feed_once, send_cash_out_now
from app.market import form_health, invoices, matching, payment_forms, quotes, withdrawals
from app.models.market import Deposit
from app.models.notification import Notification
from app.room import cashouts, room_accounts
from tests.notifications.conftest import fund, quick_user
from tests.sandboxes import PLATFORM


def _notes(user=None, kind=None) -> list[Notification]:
    db.session.expire_all()
    query = sa.select(Notification).order_by(Notification.id)
    if user is not None:
        query = query.where(Notification.user_id == user.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query))


def _seller(providers, email: str, dollars: int, kind: str = "tbank"):
    """A seller whose one withdrawal request offers exactly ``dollars``."""
    user = quick_user(email)
    fund(user, dollars)
    form = payment_forms.add_form(user, kind, "main", providers.account(kind))
    request = withdrawals.create(user, payment_form_id=form.id, amount=dollars, min_invoice_kopecks=100_00,
                                 max_invoice_kopecks=100_000_00, max_open_invoices=3, request_key=uuid.uuid4().hex)
    db.session.commit()
    return user, form, request


def _published_deposit(buyer, kopecks: int, kind: str = "tbank") -> Deposit:
    deposit = matching.create_deposit(buyer, quotes.quote(kind, kopecks, current_settings()), uuid.uuid4().hex)
    db.session.commit()
    assert matching.match(deposit.id) == "awaiting_payment"
    db.session.expire_all()
    return db.session.get(Deposit, deposit.id)


def test_room_deposit_credit_notifies_once(ctx, room):
    """Is a credited room transfer one notification with the net amount, however often the feed is read?"""
    user = quick_user("seller@example.com")
    account = room_accounts.add_room_account(user, "fish42")
    room_accounts.mark_verified(account, by="ops")
    db.session.commit()
    room.open("fish42", 1_000_000)
    room.player_transfer("fish42", PLATFORM, 10_000)
    for _ in range(3):
        poll_room_feed_once()
    [note] = _notes(user)
    assert note.kind == "credit_received"
    assert note.params == {"amount": 10_000 - 250, "commission": 250}


def test_cash_out_sent_and_failed_notify_once(ctx, room):
    """Does a sent cash-out and a refused one each make one notification, even when the outcome is recorded again?"""
    user = quick_user("player@example.com")
    account = room_accounts.add_room_account(user, "fish7")
    room_accounts.mark_verified(account, by="ops")
    fund(user, 50_00)
    room.open("fish7", 0)
    room.post("/_sandbox/room/accounts", {"account": PLATFORM, "balance": 30_00})
    sent = cashouts.request_cash_out(user, account.id, 20_00, uuid.uuid4().hex)
    db.session.commit()
    assert send_cash_out_now(sent.id) == "sent"
    failed = cashouts.request_cash_out(user, account.id, 20_00, uuid.uuid4().hex)  # the platform has 10 left
    db.session.commit()
    assert send_cash_out_now(failed.id) == "failed"
    for cash_out_id in (sent.id, failed.id):  # the outcome reported twice changes nothing
        cashouts._finish_sent(cash_out_id, "again")
        cashouts._finish_failed(cash_out_id, "again")
    db.session.commit()
    assert [(n.kind, n.params["cash_out_id"], n.params["amount"]) for n in _notes(user)] == [
        ("cash_out_sent", sent.id, 20_00), ("cash_out_failed", failed.id, 20_00)]


def test_paid_invoice_notifies_buyer_and_seller_and_filled_request(ctx, providers):
    """Does a settled invoice tell the buyer (credited) and the seller (sold, and sold out) once each?"""
    buyer = quick_user("buyer@example.com")
    q = quotes.quote("tbank", 1_000_00, current_settings())
    seller, _form, request = _seller(providers, "seller@example.com", q.usd_cents)
    deposit = _published_deposit(buyer, 1_000_00)
    providers.pay_invoice(deposit)
    for _ in range(2):
        invoice_jobs.poll_one(deposit.id)
    assert invoices.settle_paid(deposit.id, deposit.amount_kopecks, source="replay") == "settled"
    db.session.commit()
    [paid] = _notes(buyer)
    assert (paid.kind, paid.params) == ("invoice_paid", {"deposit_id": deposit.id,
                                                          "amount": q.usd_cents - q.buyer_fee_cents})
    by_kind = {n.kind: n for n in _notes(seller)}
    assert sorted(by_kind) == ["invoice_sold", "request_filled"] and len(_notes(seller)) == 2
    sold, filled = by_kind["invoice_sold"], by_kind["request_filled"]
    assert sold.params == {"deposit_id": deposit.id, "amount": q.usd_cents, "rubles": 1_000_00}
    assert filled.params == {"request_id": request.id, "amount": q.usd_cents}
    assert "buyer" not in str(sold.params) and str(buyer.id) not in sold.event_key.split(":")[2:]


def test_disputes_notify_both_sides_when_opened_and_resolved(ctx, providers):
    """Are a dispute's opening (to the seller: a request for their answer) and its resolution (either way) told
    to buyer and seller once each?"""
    buyer = quick_user("buyer@example.com")
    ops = quick_user("ops@example.com")
    seller, _form, _request = _seller(providers, "seller@example.com", 100_00)
    rejected = _published_deposit(buyer, 500_00)
    confirmed = _published_deposit(buyer, 600_00)
    for deposit in (rejected, confirmed):
        for _ in range(2):  # a wrong amount reported twice: one dispute
            invoices.settle_paid(deposit.id, 400_00, source="test")
        db.session.commit()
    invoices.resolve_dispute(rejected.id, confirm=False, actor=ops, reason="no such payment in the cabinet")
    invoices.resolve_dispute(confirmed.id, confirm=True, actor=ops, reason="the seller confirmed it")
    db.session.commit()
    got = [(n.kind, n.params["deposit_id"], n.params.get("confirmed")) for n in _notes(buyer)]
    assert got == [("dispute_opened", rejected.id, None), ("dispute_opened", confirmed.id, None),
                   ("dispute_resolved", rejected.id, False), ("dispute_resolved", confirmed.id, True)]
    # the seller is asked for an answer once per dispute (by its case's deadline), then told the outcome
    assert [(n.kind, n.params["deposit_id"], n.params.get("role")) for n in _notes(seller)] == [
        ("dispute_answer_requested", rejected.id, None), ("dispute_answer_requested", confirmed.id, None),
        ("dispute_resolved", rejected.id, "seller"), ("dispute_resolved", confirmed.id, "seller")]


def test_each_opening_of_a_form_circuit_notifies_once(ctx, providers):
    """Is every opening of an API form's circuit one notification, extra failures adding nothing?"""
    seller = quick_user("seller@example.com")
    form = payment_forms.add_form(seller, "tbank", "main", providers.account("tbank"))
    db.session.commit()
    for _ in range(5):
        form_health.record_failure(form.id, InvalidCredentials("refused"))
    db.session.commit()
    assert form_health.record_probe(form.id, None) is True  # closed by a passing probe
    for _ in range(3):
        form_health.record_failure(form.id, InvalidCredentials("refused"))
    db.session.commit()
    notes = _notes(seller, "form_failing")
    assert len(notes) == 2
    assert notes[0].params == {"form_id": form.id, "name": "main", "reason": "credentials_rejected"}
    assert notes[0].event_key != notes[1].event_key


def test_a_replayed_event_key_writes_nothing(ctx):
    """Does recording the same event again insert no notification and no delivery?"""
    from app.models.notification import NotificationDelivery
    from app.notifications import inbox

    user = quick_user("user@example.com")
    inbox.save_settings(user, email_enabled=True, telegram_enabled=False)
    first = inbox.notify(user.id, "cash_out_sent", "cash-out-sent:999", cash_out_id=999, amount=1)
    again = inbox.notify(user.id, "cash_out_sent", "cash-out-sent:999", cash_out_id=999, amount=1)
    db.session.commit()
    assert first is not None and again is None
    assert len(_notes(user)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(NotificationDelivery)) == 1
