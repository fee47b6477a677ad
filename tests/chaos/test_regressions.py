"""Bugs the bank test found, each pinned by a small test on both engines."""
from __future__ import annotations

import uuid

from app import ledger
from app.extensions import db
from app.market import payment_forms, withdrawals
from tests.helpers import PASSWORD, csrf_from, gen_user, own_backend_pid, terminate_backend


def _seller_with_request(app) -> int:
    with app.app_context():
        user = gen_user("seller@example.com")
        ledger.transfer(key=f"test-fund:{uuid.uuid4().hex}",
                        debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                        credit=ledger.wallet_of(user.id), amount=100_00, kind=ledger.TransferKind.ROOM_DEPOSIT)
        form = payment_forms.add_form(user, "tbank", "T", {"terminal_key": "ChaosDEMO", "password": "chaos-pass"},
                                      check_live=False)
        request = withdrawals.create(user, payment_form_id=form.id, amount=60_00, min_invoice_kopecks=100_00,
                                     max_invoice_kopecks=5_000_00, max_open_invoices=3, request_key=uuid.uuid4().hex)
        db.session.commit()
        return request.id


def test_withdrawal_progress_is_integer_money(app):
    """Is a request's progress int minor units on PostgreSQL too (SUM of BIGINT comes back as Decimal there)?"""
    request_id = _seller_with_request(app)
    with app.app_context():
        from app.models.market import WithdrawalRequest

        progress = withdrawals.progress(db.session.get(WithdrawalRequest, request_id))
        values = (progress.amount, progress.filled, progress.reserved, progress.remaining, progress.returned)
        assert [type(v) for v in values] == [int] * 5
        assert (progress.filled, progress.remaining, progress.returned) == (0, 60_00, 0)


def test_seller_sees_requests_page_with_a_request(app):
    """Does /seller/withdrawals render (not 500) once the seller has a request? The chaos run hit 500s here."""
    _seller_with_request(app)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": "seller@example.com", "password": PASSWORD, "csrf_token": csrf_from(page)})
    response = client.get("/seller/withdrawals")
    assert response.status_code == 200
    assert "60" in response.get_data(as_text=True)
    assert client.get("/seller/withdrawals", headers={"HX-Request": "true"}).status_code == 200


def test_connection_dropped_after_the_work_does_not_turn_the_answer_into_a_500(app_factory, database):
    """If PostgreSQL drops the request's connection after the view is done, is the answer still the view's?

    The bank test saw gunicorn answer 500 (empty body) for requests that had finished: the session
    teardown rolled back on a connection ``pg_terminate_backend`` had killed, and that error escaped Flask.
    """
    import pytest
    import sqlalchemy as sa

    from app.web.access import public

    if database.kind != "postgresql":
        pytest.skip("a dropped server connection is a PostgreSQL matter")
    app = app_factory()

    @public
    def finished_then_dropped():
        terminate_backend(app.config["SQLALCHEMY_DATABASE_URI"], own_backend_pid())
        return "done"

    app.add_url_rule("/_test/dropped", view_func=finished_then_dropped)
    response = app.test_client().get("/_test/dropped")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "done")
    with app.app_context():  # and the pool recovers: the next request gets a live connection
        assert db.session.execute(sa.text("SELECT 1")).scalar() == 1
