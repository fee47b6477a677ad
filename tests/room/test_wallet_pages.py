"""The wallet page: room accounts, the verification amount, cash-outs, and bad input refused."""
import re

import sqlalchemy as sa

from app.extensions import db
from app.models.room import CashOut, RoomAccount
from tests.helpers import PASSWORD, csrf_from, gen_user


def _signed_in(app, email="user@example.com"):
    with app.app_context():
        gen_user(email)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})
    return client


def test_add_room_account_shows_the_verification_amount(room_app):
    """After adding a room account, does the wallet show the exact amount to send and the platform account?"""
    client = _signed_in(room_app)
    page = client.get("/wallet/").get_data(as_text=True)
    response = client.post("/wallet/room-accounts", data={"ra-identifier": "Fish42", "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    page = client.get("/wallet/").get_data(as_text=True)
    with room_app.app_context():
        account = db.session.scalar(sa.select(RoomAccount))
        amount = account.verification_amount
    assert "Fish42" in page  # as typed: the room's spelling
    assert f"{amount // 100},{amount % 100:02d}" in page
    assert room_app.config["ROOM_PLATFORM_ACCOUNT"] in page
    assert 'hx-trigger="every 3s"' in page  # it waits live for the verification transfer


def test_bad_room_account_and_cash_out_input(room_app):
    """Are an empty identifier and malformed cash-out amounts refused with messages and nothing written?"""
    client = _signed_in(room_app)
    page = client.get("/wallet/").get_data(as_text=True)
    bad = client.post("/wallet/room-accounts", data={"ra-identifier": "<script>", "csrf_token": csrf_from(page)})
    assert bad.status_code == 422
    assert "&lt;script&gt;" in bad.get_data(as_text=True) or "<script>" not in bad.get_data(as_text=True)
    for amount in ("", "abc", "1e3", "-5", "1.234"):
        response = client.post("/wallet/cash-outs", data={"co-amount": amount, "co-room_account": "1",
                                                          "co-request_key": "a" * 32, "csrf_token": csrf_from(page)})
        assert response.status_code == 422, amount
    with room_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoomAccount)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CashOut)) == 0


def test_cash_out_form_requires_a_verified_account(room_app):
    """Without a verified room account, is there no cash-out form, only the explanation?"""
    client = _signed_in(room_app)
    page = client.get("/wallet/").get_data(as_text=True)
    assert not re.search(r'name="co-amount"', page)


def test_credit_arrives_live_after_i_have_sent(room, room_app):
    """After "I have sent dollars", does the wallet poll, and does the live fragment show the credit?"""
    from app.jobs.room import poll_room_feed_once
    from app.room import room_accounts
    from tests.sandboxes import PLATFORM

    client = _signed_in(room_app)
    with room_app.app_context():
        user = db.session.scalar(sa.select(RoomAccount.user_id).limit(1)) or 1
        from app.models import User

        room_accounts.mark_verified(room_accounts.add_room_account(db.session.get(User, user), "fish42"), by="ops")
        db.session.commit()
    page = client.get("/wallet/").get_data(as_text=True)
    assert 'hx-trigger="every 3s"' not in page
    client.post("/wallet/expect-deposit", data={"csrf_token": csrf_from(page)})
    assert 'hx-trigger="every 3s"' in client.get("/wallet/").get_data(as_text=True)
    room.open("fish42", 100_00)
    room.player_transfer("fish42", PLATFORM, 40_00)
    with room_app.app_context():
        poll_room_feed_once()
    fragment = client.get("/wallet/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment
    assert "39,00" in fragment  # $40 minus 2.5 %
