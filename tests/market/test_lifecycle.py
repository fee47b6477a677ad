"""Deposit → match → invoice → pay → settle, over the sandbox providers, for every provider kind."""
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import ledger
from app.database import utcnow
from app.extensions import db
from app.jobs import invoices as invoice_jobs
from app.market import invoices, matching, withdrawals
from app.models.market import Deposit, WithdrawalRequest
from app.models.provider_event import ProviderEvent

KINDS = ["yoomoney", "yookassa", "tbank"]


def _wallet(user) -> int:
    return ledger.balance(ledger.wallet_of(user.id)).available


def _verify():
    report = ledger.verify_ledger()
    assert report.ok, report.violations


def _reload(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


@pytest.mark.parametrize("kind", KINDS)
def test_deposit_is_matched_paid_and_settled(market, kind):
    """Does a deposit find the seller, get an invoice, and credit the buyer once when paid?"""
    seller, form, request = market.seller("seller@example.com", kind)
    buyer = market.buyer()
    deposit = market.deposit(buyer, kind, 1_000_00)
    assert matching.match(deposit.id) == "awaiting_payment"
    deposit = _reload(Deposit, deposit.id)
    assert deposit.pay_url and deposit.provider_payment_id
    assert deposit.withdrawal_id == request.id
    assert withdrawals.progress(_reload(WithdrawalRequest, request.id)).reserved == deposit.usd_cents
    market.providers.pay_invoice(deposit)
    for _ in range(2):  # the poll sees it; a second poll changes nothing
        invoice_jobs.poll_one(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    assert deposit.status == "settled"
    assert _wallet(buyer) == deposit.usd_cents - deposit.buyer_fee_cents
    progress = withdrawals.progress(_reload(WithdrawalRequest, request.id))
    assert progress.filled == deposit.usd_cents and progress.reserved == 0
    assert progress.remaining == 100_00 - deposit.usd_cents
    _verify()


def test_duplicate_and_out_of_order_events_settle_once(market):
    """Do repeated notifications, and one arriving with the poll, credit the buyer exactly once?"""
    _, form, _ = market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    market.providers.pay_invoice(deposit)
    for n in range(3):
        db.session.add(ProviderEvent(kind="tbank", payment_form_id=form.id, event_key=f"e-{n}",
                                     provider_payment_id=deposit.provider_payment_id, order_id=deposit.order_id,
                                     status="paid", amount=deposit.amount_kopecks))
    db.session.commit()
    ids = db.session.scalars(sa.select(ProviderEvent.id).order_by(ProviderEvent.id.desc())).all()
    invoice_jobs.poll_one(deposit.id)
    for event_id in ids:
        invoice_jobs.process_event_now(event_id)
    assert _reload(Deposit, deposit.id).status == "settled"
    assert _wallet(buyer) == deposit.usd_cents
    _verify()


def test_event_from_another_sellers_form_settles_nothing(market):
    """Can a seller's own notification URL be used to settle another seller's invoice? (No.)"""
    _, form_a, _ = market.seller("a@example.com", "tbank")
    _, form_b, _ = market.seller("b@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    other_form = form_b if deposit.payment_form_id == form_a.id else form_a
    db.session.add(ProviderEvent(kind="tbank", payment_form_id=other_form.id, event_key="forged",
                                 provider_payment_id=deposit.provider_payment_id, order_id=deposit.order_id,
                                 status="paid", amount=deposit.amount_kopecks))
    db.session.commit()
    assert invoice_jobs.process_event_now(db.session.scalar(sa.select(ProviderEvent.id))) == "no such invoice"
    assert _reload(Deposit, deposit.id).status == "awaiting_payment"


def test_wrong_amount_goes_to_dispute(market):
    """Is a payment of a different amount held for ops instead of settled?"""
    market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    assert invoices.settle_paid(deposit.id, 400_00, source="test") == "disputed"
    db.session.commit()
    assert _wallet(buyer) == 0
    _verify()


def test_expiry_cancels_at_the_provider_and_releases_the_dollars(market):
    """At expiry, is the invoice cancelled at the provider and the seller's dollars released?"""
    _, _, request = market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    db.session.execute(sa.update(Deposit).where(Deposit.id == deposit.id).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert invoice_jobs.expire_one(deposit.id) == "expired"
    deposit = _reload(Deposit, deposit.id)
    status = market.providers.http.get(
        f"{market.providers.url}/_sandbox/providers/tbank/payments/{deposit.provider_payment_id}", timeout=5).json()
    assert status["status"] in ("CANCELED", "DEADLINE_EXPIRED")
    progress = withdrawals.progress(_reload(WithdrawalRequest, request.id))
    assert progress.reserved == 0 and progress.remaining == 100_00
    assert _reload(WithdrawalRequest, request.id).open_invoices == 0
    _verify()


def test_late_payment_is_settled_while_escrow_covers_it(market):
    """A payment reported after expiry: settled when the escrow still has the dollars."""
    market.seller("seller@example.com", "yookassa")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "yookassa", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    assert invoices.expire(deposit.id) == "expired"
    db.session.commit()
    assert invoices.settle_paid(deposit.id, deposit.amount_kopecks, source="test") == "settled"
    db.session.commit()
    assert _wallet(buyer) == deposit.usd_cents
    _verify()


def test_late_payment_goes_to_dispute_when_escrow_is_gone(market):
    """A payment reported after expiry, when the seller's dollars were sold meanwhile: disputed, nothing moves."""
    seller, _, request = market.seller("seller@example.com", "tbank", dollars=60_00)
    buyer = market.buyer()
    first = market.deposit(buyer, "tbank", 5_000_00)  # ≈ $52 at the default rate
    matching.match(first.id)
    assert invoices.expire(first.id) == "expired"
    db.session.commit()
    withdrawals.cancel(seller, request.id)
    db.session.commit()
    assert invoices.settle_paid(first.id, first.amount_kopecks, source="test") == "disputed"
    db.session.commit()
    assert _wallet(buyer) == 0
    assert _wallet(seller) == 60_00
    # the seller has rubles the buyer got nothing for: a payment exception, once, however often it is reported
    assert invoices.settle_paid(first.id, first.amount_kopecks, source="test") == "disputed"
    assert [(e.reason, e.amount_kopecks) for e in _exceptions(first.id)] == [("unsettled", first.amount_kopecks)]
    _verify()


def test_provider_failure_moves_on_to_the_next_seller(market):
    """When the first seller's provider refuses, is the deposit matched to the next seller?"""
    _, _, first = market.seller("first@example.com", "yookassa")
    _, _, second = market.seller("second@example.com", "yookassa")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "yookassa", 500_00)
    # The provider fails the first seller's invoice once (a 500 before doing anything).
    market.providers.post("/_sandbox/providers/glitches",
                          {"path": "/yookassa/v3/payments", "mode": "error_before", "status": 500, "count": 1})
    assert matching.match(deposit.id) == "awaiting_payment"
    deposit = _reload(Deposit, deposit.id)
    assert deposit.withdrawal_id == second.id
    assert deposit.match_attempts == 2
    assert _reload(WithdrawalRequest, first.id).open_invoices == 0
    assert withdrawals.progress(_reload(WithdrawalRequest, first.id)).reserved == 0
    _verify()


def test_no_seller_fails_with_a_clear_reason(market):
    """With no eligible seller, does the deposit fail with a reason and hold nothing?"""
    market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "yookassa", 500_00)
    assert matching.match(deposit.id) == "failed"
    assert _reload(Deposit, deposit.id).reason


def test_buyer_never_matches_their_own_request(market):
    """Is a seller's own request skipped when they buy?"""
    seller, _, _ = market.seller("seller@example.com", "tbank")
    deposit = market.deposit(seller, "tbank", 500_00)
    assert matching.match(deposit.id) == "failed"


def test_fifo_and_partly_filled_keeps_place(market):
    """Is the oldest active request served first, and does a partly filled one stay first?"""
    _, _, first = market.seller("first@example.com", "tbank")
    _, _, second = market.seller("second@example.com", "tbank")
    buyer = market.buyer()
    for _ in range(2):
        deposit = market.deposit(buyer, "tbank", 500_00)
        matching.match(deposit.id)
        assert _reload(Deposit, deposit.id).withdrawal_id == first.id


def test_seller_cancels_with_open_invoices(market):
    """Cancelling returns the free part now and the held part when its invoice ends."""
    seller, _, request = market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    withdrawals.cancel(seller, request.id)
    db.session.commit()
    assert _wallet(seller) == 100_00 - deposit.usd_cents
    assert invoices.expire(deposit.id) == "expired"
    db.session.commit()
    assert _wallet(seller) == 100_00
    _verify()


def test_double_submit_creates_one_deposit(market):
    """Does a repeated submit with the same form key create a single deposit?"""
    from app.core.settings import current_settings
    from app.market import quotes

    buyer = market.buyer()
    q = quotes.quote("tbank", 500_00, current_settings())
    first = matching.create_deposit(buyer, q, "a" * 32)
    second = matching.create_deposit(buyer, q, "a" * 32)
    db.session.commit()
    assert first.id == second.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Deposit)) == 1


# --- YooMoney: signed amounts, the fee, and money beyond the invoice (#18 breaks 3 and 5) --------------

class _Hook:
    """Where the sandbox wallet delivers its notifications: kept, to be handed to the platform's door."""

    def __init__(self):
        self.bodies: list[bytes] = []
        self._cond = threading.Condition()

    def __call__(self, environ, start_response):
        from werkzeug.wrappers import Request, Response

        with self._cond:
            self.bodies.append(Request(environ).get_data())
            self._cond.notify_all()
        return Response("")(environ, start_response)

    def wait_for(self, count: int) -> list[bytes]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.bodies) >= count, timeout=5), self.bodies
            return list(self.bodies)


@pytest.fixture
def hook():
    from sandbox.server import serve

    endpoint = _Hook()
    running = serve(endpoint)
    endpoint.url = running.url + "/hook"
    yield endpoint
    running.stop()


def _yoomoney_invoice(market, hook, rubles_kopecks: int = 1_000_00, *, dollars: int = 100_00):
    """A matched YooMoney invoice whose sandbox wallet (charging the real fee) notifies ``hook``."""
    from app.market import payment_forms

    seller, form, request = market.seller("seller@example.com", "yoomoney", dollars=dollars)
    wallet = payment_forms.credentials_of(form)["wallet"]
    market.providers.post("/_sandbox/providers/yoomoney/accounts", {"wallet": wallet, "notification_url": hook.url})
    buyer = market.buyer()
    deposit = market.deposit(buyer, "yoomoney", rubles_kopecks)
    assert matching.match(deposit.id) == "awaiting_payment"
    return seller, form, request, buyer, _reload(Deposit, deposit.id)


def _pay_yoomoney(market, deposit, payment_type: str = "AC", amount: int | None = None) -> dict:
    """The buyer follows the quickpay link (editing paymentType, as a buyer choosing to pay from a wallet may)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit

    link = urlsplit(deposit.pay_url)
    query = dict(parse_qsl(link.query), paymentType=payment_type)
    response = market.providers.http.get(link._replace(query=urlencode(query)).geturl(), allow_redirects=False,
                                         timeout=5)
    assert response.status_code == 302, response.text
    payment_id = urlsplit(response.headers["Location"]).path.rsplit("/", 1)[-1]
    return market.providers.pay("yoomoney", payment_id, amount)


def _deliver(form, body: bytes) -> str:
    """Hand a notification to the platform's door and process what it stored; the outcome."""
    from app.market import provider_events

    accepted = provider_events.accept_notification("yoomoney", form.hook_token, {}, body, "127.0.0.1")
    db.session.commit()
    if accepted.event_id is None:
        return "duplicate"
    return invoice_jobs.process_event_now(accepted.event_id)


def _exceptions(deposit_id: int):
    from app.models.payment_exception import PaymentException

    db.session.expire_all()
    return list(db.session.scalars(sa.select(PaymentException).where(PaymentException.deposit_id == deposit_id)
                                   .order_by(PaymentException.id)))


@pytest.mark.parametrize("payment_type", ["AC", "PC"])
@pytest.mark.parametrize("path", ["poll", "notification", "both"])
def test_yoomoney_fee_is_one_rule_on_both_paths(market, hook, payment_type, path):
    """#18 break 3: a card (3 % fee) or wallet (1 %) payment of the full invoice, confirmed by the poll only
    (operation-history, net), by the notification only (signed amount, net), or both, settles once, with
    no dispute and no payment exception — the poll no longer sees 97000 against 100000."""
    _, form, _, buyer, deposit = _yoomoney_invoice(market, hook, 1_000_01)
    paid = _pay_yoomoney(market, deposit, payment_type)
    assert paid["extra"]["payment_type"] == payment_type
    body = hook.wait_for(1)[0]
    outcomes = []
    if path in ("notification", "both"):
        outcomes.append(_deliver(form, body))
    if path in ("poll", "both"):
        outcomes.append(invoice_jobs.poll_one(deposit.id))
    assert outcomes[0] == "settled", outcomes
    deposit = _reload(Deposit, deposit.id)
    assert (deposit.status, deposit.paid_kopecks) == ("settled", 1_000_01)
    assert _wallet(buyer) == deposit.usd_cents - deposit.buyer_fee_cents
    assert _exceptions(deposit.id) == []
    _verify()


def test_yoomoney_forged_withdraw_amount_credits_nothing(market, hook):
    """#18 break 3: the buyer pays 1 ₽ and posts the genuine notification back with withdraw_amount raised
    to the invoice (not covered by sha1_hash, so it still verifies): no credit, a dispute, and the poll
    (the provider's own record) agrees."""
    from urllib.parse import parse_qsl, urlencode

    _, form, _, buyer, deposit = _yoomoney_invoice(market, hook)
    _pay_yoomoney(market, deposit, "AC", amount=100)
    fields = dict(parse_qsl(hook.wait_for(1)[0].decode(), keep_blank_values=True))
    fields["withdraw_amount"] = "1000.00"
    assert _deliver(form, urlencode(fields).encode()) == "disputed"
    deposit = _reload(Deposit, deposit.id)
    assert deposit.status == "disputed" and "paid amount 100 " in deposit.reason
    assert _wallet(buyer) == 0
    from app.operations import disputes

    assert not disputes.fetch_evidence(deposit.id).clear_cut_paid(deposit)  # auto-resolution will not clear it
    _verify()


def test_yoomoney_card_payment_in_dispute_is_auto_resolved(market, hook):
    """A card payment that went to dispute before this fix (the poll compared 97000 with 100000) is now clear-cut
    for auto-resolution, since the evidence is read through the same fee rule."""
    _, _, _, buyer, deposit = _yoomoney_invoice(market, hook)
    _pay_yoomoney(market, deposit, "AC")
    invoices.dispute(_reload(Deposit, deposit.id), "paid amount 97000 differs from the invoice 100000")
    db.session.commit()
    assert invoice_jobs.auto_resolve_disputes_once()["settled"] == 1
    db.session.commit()
    assert _reload(Deposit, deposit.id).status == "settled"
    assert _wallet(buyer) > 0
    _verify()


@pytest.mark.parametrize("first", ["notification", "poll"])
def test_second_payment_to_a_settled_label_is_an_exception_once(market, hook, first):
    """#18 break 5: the label is paid again after it settled.  The second payment is one payment exception
    (amount, reason), however often its notification is re-delivered or re-processed; the buyer is told once;
    the buyer's dollars are credited once; the first payment's own notification arriving after a poll is no
    exception."""
    from app.models.notification import Notification

    _, form, _, buyer, deposit = _yoomoney_invoice(market, hook)
    _pay_yoomoney(market, deposit, "AC")
    first_body = hook.wait_for(1)[0]
    if first == "notification":
        assert _deliver(form, first_body) == "settled"
    else:
        assert invoice_jobs.poll_one(deposit.id) == "settled"
        assert _deliver(form, first_body) == "settled"  # the same payment, reported late: nothing more
    credited = _wallet(buyer)
    _pay_yoomoney(market, deposit, "PC", amount=500_00)
    second_body = hook.wait_for(2)[1]
    assert _deliver(form, second_body) == "payment exception"
    assert _deliver(form, second_body) == "duplicate"
    event = db.session.scalars(sa.select(ProviderEvent).order_by(ProviderEvent.id.desc())).first()
    db.session.execute(sa.update(ProviderEvent).where(ProviderEvent.id == event.id).values(processed_at=None))
    db.session.commit()
    assert invoice_jobs.process_event_now(event.id) == "settled"  # re-processed: already accounted for
    exceptions = _exceptions(deposit.id)
    assert [(e.reason, e.amount_kopecks, e.status, e.provider) for e in exceptions] == \
        [("second_payment", 500_00, "open", "yoomoney")]
    assert exceptions[0].provider_event_id == event.id
    told = db.session.scalars(sa.select(Notification).where(Notification.user_id == buyer.id,
                                                            Notification.kind == "payment_exception")).all()
    assert [(n.params["deposit_id"], n.params["rubles"]) for n in told] == [(deposit.id, 500_00)]
    assert _wallet(buyer) == credited
    assert _reload(Deposit, deposit.id).status == "settled"
    _verify()


def test_a_second_payment_whose_notifications_are_all_lost_is_found_by_the_recheck(market, hook):
    """#18 break 5, the silent case: the label is paid again and none of YooMoney's three notifications of it
    arrives.  Reading settled labels back records it once; a second read adds nothing; the lost notification,
    turning up after all, adds nothing either; the buyer's dollars are credited once."""
    from app.jobs.schedule import PERIODIC_JOBS

    assert ("app.jobs.invoices.recheck_settled_labels", 900) in PERIODIC_JOBS
    _, form, _, buyer, deposit = _yoomoney_invoice(market, hook)
    _pay_yoomoney(market, deposit, "AC")
    assert _deliver(form, hook.wait_for(1)[0]) == "settled"
    credited = _wallet(buyer)
    _pay_yoomoney(market, deposit, "PC", amount=500_00)  # its notification is not delivered
    assert invoice_jobs.recheck_settled_labels_once() == {"checked": 1, "exceptions": 1}
    assert invoice_jobs.recheck_settled_labels_once() == {"checked": 1, "exceptions": 0}
    assert _deliver(form, hook.wait_for(2)[1]) == "settled"
    assert [(e.reason, e.amount_kopecks) for e in _exceptions(deposit.id)] == [("second_payment", 500_00)]
    assert _wallet(buyer) == credited
    _verify()


def test_a_label_settled_long_ago_is_not_read_back(market, hook):
    """Only the recheck window's settled labels are read back (the job's cost stays bounded)."""
    _, form, _, _, deposit = _yoomoney_invoice(market, hook)
    _pay_yoomoney(market, deposit, "AC")
    assert _deliver(form, hook.wait_for(1)[0]) == "settled"
    db.session.execute(sa.update(Deposit).where(Deposit.id == deposit.id).values(
        settled_at=utcnow() - invoices.RECHECK_WINDOW - timedelta(minutes=1)))
    db.session.commit()
    assert invoice_jobs.recheck_settled_labels_once() == {"checked": 0, "exceptions": 0}


def test_two_second_payments_are_each_recorded(market, hook):
    """Two more transfers under a settled label, processed in reverse order: their sum is recorded once,
    never twice, and a third re-processing adds nothing."""
    _, form, _, _, deposit = _yoomoney_invoice(market, hook)
    _pay_yoomoney(market, deposit, "AC")
    assert _deliver(form, hook.wait_for(1)[0]) == "settled"
    _pay_yoomoney(market, deposit, "AC", amount=200_00)
    _pay_yoomoney(market, deposit, "AC", amount=300_00)
    bodies = hook.wait_for(3)
    outcomes = [_deliver(form, bodies[2]), _deliver(form, bodies[1])]
    assert outcomes == ["payment exception", "settled"]  # the first to arrive saw both in the history
    assert sum(e.amount_kopecks for e in _exceptions(deposit.id)) == 500_00


@pytest.mark.parametrize("path", ["poll", "notification"])
def test_overpayment_settles_and_records_the_surplus(market, hook, path):
    """A payment larger than the invoice settles it (the buyer paid in full) and the surplus is a payment
    exception, recorded once even when the poll and the notification both report it."""
    _, form, _, buyer, deposit = _yoomoney_invoice(market, hook)
    _pay_yoomoney(market, deposit, "AC", amount=1_300_00)
    body = hook.wait_for(1)[0]
    if path == "poll":
        assert invoice_jobs.poll_one(deposit.id) == "settled"
        assert _deliver(form, body) == "settled"
    else:
        assert _deliver(form, body) == "settled"
    assert [(e.reason, e.amount_kopecks) for e in _exceptions(deposit.id)] == [("overpayment", 300_00)]
    deposit = _reload(Deposit, deposit.id)
    assert deposit.paid_kopecks == 1_300_00
    assert _wallet(buyer) == deposit.usd_cents - deposit.buyer_fee_cents
    _verify()


def test_exact_provider_overpayment_is_an_exception(market):
    """For every provider: a T-Bank payment reported above its invoice settles the invoice and records the
    surplus once, however often the same event is processed."""
    _, form, _ = market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    db.session.add(ProviderEvent(kind="tbank", payment_form_id=form.id, event_key="over-1",
                                 provider_payment_id=deposit.provider_payment_id, order_id=deposit.order_id,
                                 status="paid", amount=deposit.amount_kopecks + 10_00))
    db.session.commit()
    event_id = db.session.scalar(sa.select(ProviderEvent.id))
    assert invoice_jobs.process_event_now(event_id) == "settled"
    assert invoices.settle_paid(deposit.id, deposit.amount_kopecks + 10_00, source="test", event_key="over-1",
                                provider_event_id=event_id) == "settled"
    db.session.commit()
    assert [(e.reason, e.amount_kopecks, e.provider) for e in _exceptions(deposit.id)] == \
        [("overpayment", 10_00, "tbank")]
    assert _wallet(buyer) == deposit.usd_cents
    _verify()


def test_concurrent_processing_records_a_second_payment_once(market_app, market, hook, database):
    """On PostgreSQL, with real threads: the same second-payment event re-processed by four workers at once,
    together with two more transfers processed at the same time, records the money beyond the invoice exactly
    once (the sum of the extra transfers), never twice."""
    if database.kind != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property; SQLite serialises writers by design")
    from app.market import provider_events

    _, form, _, buyer, deposit = _yoomoney_invoice(market, hook)
    _pay_yoomoney(market, deposit, "AC")
    assert _deliver(form, hook.wait_for(1)[0]) == "settled"
    for extra in (200_00, 300_00):
        _pay_yoomoney(market, deposit, "AC", amount=extra)
    bodies = hook.wait_for(3)[1:]
    event_ids = []
    for body in bodies:
        accepted = provider_events.accept_notification("yoomoney", form.hook_token, {}, body, "127.0.0.1")
        db.session.commit()
        event_ids.append(accepted.event_id)
    jobs = [event_ids[0]] * 4 + [event_ids[1]] * 2
    barrier, outcomes, errors = threading.Barrier(len(jobs)), [], []

    def work(event_id):
        with market_app.app_context():
            try:
                barrier.wait(timeout=30)
                outcomes.append(invoice_jobs.process_event_now(event_id))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(e,)) for e in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert outcomes.count("payment exception") == 1, outcomes
    exceptions = _exceptions(deposit.id)
    assert [(e.reason, e.amount_kopecks) for e in exceptions] == [("second_payment", 500_00)]
    assert _wallet(buyer) == deposit.usd_cents - deposit.buyer_fee_cents
    _verify()
