"""Stored XSS: markup put into every user- or outsider-supplied field is rendered escaped everywhere.

The payloads are stored directly in the rows (whatever path could have put them there: a
form, a provider, the room's feed, ops), then every page the owner and an admin can open is
rendered and scanned: the markup never appears raw, and nothing inline slips in.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import PaymentForm, User
from app.models.market import Deposit
from app.models.room import RoomAccount, RoomTransfer
from tests.helpers import csrf_from
from tests.security import access_table as table
from tests.security.conftest import build_world, sign_in
from tests.security.test_pages import inline_problems

#: breaks out of an attribute and opens a tag with a handler (25 characters: fits the narrow columns)
TAG = '"><img src=x onerror=y()>'
SCRIPT = "<script>y()</script>"


def _plant(app, world) -> None:
    with app.app_context():
        owner = db.session.get(User, world.users["user"])
        owner.email = f"{uuid.uuid4().hex[:6]}{TAG}@example.com"
        db.session.get(PaymentForm, world.objects["form"]).name = TAG + SCRIPT
        db.session.get(PaymentForm, world.objects["spare_form"]).display = TAG
        db.session.execute(sa.update(Deposit).where(Deposit.id == world.objects["deposit"]).values(
            status="awaiting_payment", reason="buyer: " + TAG + SCRIPT, pay_url="https://pay.test/" + TAG,
            sbp_payload=TAG, provider_payment_id=TAG))
        from app.market import dispute_threads

        case, _ = dispute_threads.for_party(owner, world.objects["dispute"])
        dispute_threads.post(case, author=owner, role="buyer", body=TAG + SCRIPT, upload=None,
                             request_key=uuid.uuid4().hex)
        db.session.add(RoomTransfer(room_transfer_id=TAG, direction="in", counterparty=TAG + SCRIPT, amount=100,
                                    occurred_at=datetime.now(UTC), note=TAG + SCRIPT, source="sandbox",
                                    status="credited", user_id=owner.id, commission=0))
        db.session.commit()


def _pages(world) -> list[str]:
    urls = [route.url.format(**world.objects) for endpoint, route in table.ROUTES.items()
            if route.method == "GET" and endpoint not in ("static", "favicon")]
    return urls + ["/seller/withdrawals", "/buy/", "/account", "/seller/api-forms/" + str(world.objects["spare_form"])]


def test_stored_markup_renders_escaped(sec_app, providers):
    """Do planted payloads in names, notes, reasons, room feed fields and provider fields render as text?"""
    world = build_world(sec_app, providers)
    _plant(sec_app, world)
    failures, seen_escaped = [], 0
    for actor in ("user", "admin"):
        client = sec_app.test_client()
        sign_in(sec_app, client, actor, world)
        for url in _pages(world):
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(url, headers=headers)
                if response.mimetype not in ("text/html", "text/csv"):
                    continue  # a served file (a dispute's PNG): bytes, never rendered (tests/security/test_pages.py)
                html = response.get_data(as_text=True)
                if "<img src=x" in html or SCRIPT in html:
                    failures.append(f"{url} as {actor}: raw markup")
                failures += [f"{url} as {actor}: {p}" for p in inline_problems(html)]
                seen_escaped += html.count("&lt;img src=x")
    assert not failures, "\n".join(failures)
    assert seen_escaped > 10  # the fields were shown at all (escaped), so the check was not vacuous


def test_rejected_input_is_echoed_escaped(sec_app, providers):
    """Is markup typed into a form that refuses it shown back escaped?"""
    world = build_world(sec_app, providers)
    client = sec_app.test_client()
    sign_in(sec_app, client, "user", world)
    token = csrf_from(client.get("/wallet/").get_data(as_text=True))
    cases = [
        ("/wallet/room-accounts", {"ra-identifier": TAG + SCRIPT}),
        ("/wallet/cash-outs", {"co-amount": TAG, "co-room_account": TAG, "co-request_key": TAG}),
        ("/seller/withdrawals", {"wr-amount": TAG, "wr-min_invoice": SCRIPT, "wr-max_open_invoices": TAG}),
        ("/buy/", {"dep-amount": TAG + SCRIPT, "dep-kind": TAG}),
        ("/seller/api-forms/new?kind=tbank", {"name": TAG + SCRIPT, "terminal_key": TAG, "password": SCRIPT}),
        ("/account", {"pw-current": TAG, "pw-password": SCRIPT, "pw-confirm": TAG, "pw-submit": "1"}),
    ]
    for path, data in cases:
        response = client.post(path, data={"csrf_token": token, **data})
        html = response.get_data(as_text=True)
        assert response.status_code in (200, 302, 422), (path, response.status_code)
        assert "<img src=x" not in html and SCRIPT not in html, path
        assert inline_problems(html) == [], path
    with sec_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoomAccount)) == 1
    quote = client.get("/buy/quote", query_string={"dep-kind": TAG, "dep-amount": TAG + SCRIPT})
    assert "<img src=x" not in quote.get_data(as_text=True)


def test_a_provider_cannot_hand_the_buyer_a_script_link():
    """Is a pay link that is not a web address (javascript:, data:) refused at the adapter boundary?"""
    import pytest

    from app.connectors.payments.base import CreatedInvoice, ProviderError

    for bad in ("javascript:y()", " JavaScript:y()", "data:text/html,<script>y()</script>", "//evil.test/x"):
        with pytest.raises(ProviderError):
            CreatedInvoice("1", bad, None, "created")
    assert CreatedInvoice("1", "https://pay.test/x", None, "created").pay_url == "https://pay.test/x"
