"""Payment exceptions in the ops area: the list (amounts, deposit, buyer, seller, provider, time), the action
(once, with a reason, audited), and the buyer's line on the invoice page and notification."""
import threading

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.jobs import invoices as invoice_jobs
from app.market import matching, payment_forms, provider_events
from app.models.market import Deposit
from app.models.notification import Notification
from app.models.payment_exception import PaymentException
from tests.admin_money.conftest import Market, audit_events, ledger_ok, session_of, token
from tests.provider_sandbox import sign_in as sign_in_session


class _Hook:
    def __init__(self):
        self.bodies, self._cond = [], threading.Condition()

    def __call__(self, environ, start_response):
        from werkzeug.wrappers import Request, Response

        with self._cond:
            self.bodies.append(Request(environ).get_data())
            self._cond.notify_all()
        return Response("")(environ, start_response)

    def wait_for(self, count):
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.bodies) >= count, timeout=5)
            return list(self.bodies)


@pytest.fixture
def hook():
    from sandbox.server import serve

    endpoint = _Hook()
    running = serve(endpoint)
    endpoint.url = running.url + "/hook"
    yield endpoint
    running.stop()


def _paid_twice(market_app, providers, hook):
    """A YooMoney invoice paid in full (notification), then its label paid again with 250 ₽ (notification)."""
    with market_app.app_context():
        m = Market(providers)
        _, form, _ = m.seller("seller@example.com", "yoomoney")
        wallet = payment_forms.credentials_of(form)["wallet"]
        providers.post("/_sandbox/providers/yoomoney/accounts", {"wallet": wallet, "notification_url": hook.url})
        buyer = m.buyer("buyer@example.com")
        deposit = m.deposit(buyer, "yoomoney", 1_000_00)
        assert matching.match(deposit.id) == "awaiting_payment"
        db.session.commit()
        deposit = db.session.get(Deposit, deposit.id)
        providers.pay_invoice(deposit)
        providers.pay_invoice(deposit, amount=250_00)
        outcomes = []
        for body in hook.wait_for(2):
            accepted = provider_events.accept_notification("yoomoney", form.hook_token, {}, body, "127.0.0.1")
            db.session.commit()
            outcomes.append(invoice_jobs.process_event_now(accepted.event_id))
        assert outcomes == ["settled", "payment exception"]
        exception_id = db.session.scalar(sa.select(PaymentException.id))
        return deposit.id, buyer.id, exception_id


def test_ops_see_and_resolve_an_exception_once(market_app, providers, market_staff, hook):
    """Does the list show the amount, the deposit, buyer, seller, provider and time; does resolving need a
    resolution and a reason, happen once (a second post is refused), and land in the audit log?"""
    deposit_id, _, exception_id = _paid_twice(market_app, providers, hook)
    ops = session_of(market_app, market_staff.ops)
    page = ops.get("/admin/payment-exceptions").get_data(as_text=True)
    assert f'id="exception-{exception_id}"' in page
    assert f"#{deposit_id}" in page and "buyer@example.com" in page and "seller@example.com" in page
    assert "yoomoney" in page and "250,00" in page and "Повторная оплата уже оплаченного счёта" in page
    assert "/admin/payment-exceptions" in ops.get("/admin/").get_data(as_text=True)  # in the ops nav

    csrf = token(ops)
    url = f"/admin/payment-exceptions/{exception_id}/resolve"
    assert ops.post(url, data={"csrf_token": csrf, "resolution": "refunded"}).status_code == 422  # no reason
    assert ops.post(url, data={"csrf_token": csrf, "resolution": "nonsense", "reason": "x" * 5}).status_code == 422
    assert ops.post(url, data={"resolution": "refunded", "reason": "seller refunded"}).status_code == 400  # no CSRF
    with market_app.app_context():
        assert db.session.get(PaymentException, exception_id).status == "open"
    done = ops.post(url, data={"csrf_token": csrf, "resolution": "refunded", "reason": "seller refunded 250 ₽"})
    assert done.status_code == 303
    again = ops.post(url, data={"csrf_token": csrf, "resolution": "credited", "reason": "credit as well"})
    assert again.status_code == 422 and "уже урегулирован" in again.get_data(as_text=True)
    assert ops.post("/admin/payment-exceptions/999999/resolve",
                    data={"csrf_token": csrf, "resolution": "refunded", "reason": "nothing here"}).status_code == 404
    with market_app.app_context():
        row = db.session.get(PaymentException, exception_id)
        assert (row.status, row.resolution, row.note, row.resolved_by_id) == \
            ("resolved", "refunded", "seller refunded 250 ₽", market_staff.ops.id)
    (resolved,) = audit_events(market_app, "payment_exception.resolved")
    assert resolved.actor_id == market_staff.ops.id and resolved.target_id == str(exception_id)
    assert resolved.details["resolution"] == "refunded"
    assert len(audit_events(market_app, "payment_exception.opened")) == 1
    assert f'id="exception-{exception_id}"' not in ops.get("/admin/payment-exceptions").get_data(as_text=True)
    assert "продавец вернул" in ops.get("/admin/payment-exceptions?status=resolved").get_data(as_text=True)
    ledger_ok(market_app)


def test_the_buyer_is_told(market_app, providers, hook):
    """Does the buyer get one notification (outbox) and see a line on the invoice page?"""
    deposit_id, buyer_id, exception_id = _paid_twice(market_app, providers, hook)
    with market_app.app_context():
        told = db.session.scalars(sa.select(Notification).where(Notification.kind == "payment_exception")).all()
        assert [(n.user_id, n.params["rubles"]) for n in told] == [(buyer_id, 250_00)]
        from app.models import User

        buyer = db.session.get(User, buyer_id)
        client = market_app.test_client()
        sign_in_session(client, buyer)
    page = client.get(f"/buy/{deposit_id}").get_data(as_text=True)
    assert f'id="payment-exception-{exception_id}"' in page and "больше суммы этого счёта" in page
    assert "Платёж сверх счёта" in client.get("/notifications/").get_data(as_text=True)
