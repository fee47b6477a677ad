"""Room accounts on the wallet: the verification pool, its limits and expiry, the live badge, removal,
clear answers for re-adding, ops verification by hand, and a bounded wait for the room."""
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.database import utcnow
from app.extensions import db
from app.jobs.room import expire_room_verifications, poll_room_feed_once
from app.models import AuditEvent, Role, User
from app.models.room import RoomAccount, RoomTransfer
from app.room import room_accounts
from app.web.wallet.routes import EXPECT_SINCE_KEY, QUIET_SECONDS
from tests.admin.conftest import person, post_form, quick_user, sign_in
from tests.helpers import csrf_from
from tests.sandboxes import PLATFORM

CAP = room_accounts.MAX_PENDING_PER_USER


def _client(app, email="user@example.com"):
    with app.app_context():
        return sign_in(app, person(quick_user(email)))


def _add(client, identifier):
    token = csrf_from(client.get("/wallet/").get_data(as_text=True))
    return client.post("/wallet/room-accounts", data={"ra-identifier": identifier, "csrf_token": token})


def _accounts(app, **where):
    with app.app_context():
        query = sa.select(RoomAccount).order_by(RoomAccount.id)
        for name, value in where.items():
            query = query.where(getattr(RoomAccount, name) == value)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


# --- the pool, the cap, the expiry --------------------------------------------------------------------------


def test_pending_verifications_per_user_are_capped(room_ctx):
    """Can one user hold only CAP accounts awaiting verification, and add another once one is removed?"""
    user = quick_user("u@example.com")
    added = [room_accounts.add_room_account(user, f"player-{i}") for i in range(CAP)]
    db.session.commit()
    with pytest.raises(room_accounts.ValidationFailed, match=str(CAP)):
        room_accounts.add_room_account(user, "player-extra")
    db.session.rollback()
    room_accounts.remove_pending(user, added[0].id)
    db.session.commit()
    assert room_accounts.add_room_account(user, "player-extra").status == "pending"


def test_the_pool_is_per_room_account_and_does_not_run_out(room_ctx):
    """Do 1,000 users' pending verifications of different accounts coexist, whatever their amounts?"""
    users = [quick_user(f"p{i}@example.com") for i in range(1_000)]
    for i, user in enumerate(users):
        room_accounts.add_room_account(user, f"player{i}")
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoomAccount)
                             .where(RoomAccount.status == "pending")) == 1_000


def test_an_expired_verification_neither_verifies_nor_counts(room, room_ctx):
    """Past its time, does the amount not verify, the cap free up, the sweeper delete it, and a re-add renew it?"""
    user = quick_user("u@example.com")
    accounts = [room_accounts.add_room_account(user, f"player-{i}") for i in range(CAP)]
    db.session.commit()
    late = accounts[0]
    db.session.execute(sa.update(RoomAccount).where(RoomAccount.id == late.id)
                       .values(verification_expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    room.open("player-0", 50_00)
    room.player_transfer("player-0", PLATFORM, late.verification_amount)
    poll_room_feed_once()
    assert db.session.scalar(sa.select(RoomTransfer.status)) == "unmatched"
    assert not db.session.get(RoomAccount, late.id).is_verified
    renewed = room_accounts.add_room_account(user, "player-0")  # the expired one no longer counts: renewed
    db.session.commit()
    assert renewed.id == late.id and renewed.is_awaiting
    second = accounts[1].id
    db.session.execute(sa.update(RoomAccount).where(RoomAccount.id == second)
                       .values(verification_expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert expire_room_verifications() == 1
    assert db.session.get(RoomAccount, second) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "room_account.expired")) == 1


def test_adding_room_accounts_is_rate_limited(app_factory, room):
    """Is the 6th addition within the window answered 429, whatever the answers before it were?"""
    app = app_factory(ROOM_ACCOUNT_RATE_LIMIT="5 per hour")
    client = _client(app)
    statuses = [_add(client, f"player-{i}").status_code for i in range(6)]
    assert statuses[:CAP] == [302] * CAP and set(statuses[CAP:5]) == {422}
    assert statuses[5] == 429
    assert len(_accounts(app)) == CAP


def _race(app, clients, identifiers):
    """POST every client's identifier at the same instant; the status codes."""
    tokens = [csrf_from(c.get("/wallet/").get_data(as_text=True)) for c in clients]
    barrier, statuses = threading.Barrier(len(clients)), []

    def go(client, token, identifier):
        barrier.wait(timeout=30)
        response = client.post("/wallet/room-accounts", data={"ra-identifier": identifier, "csrf_token": token})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=go, args=args) for args in zip(clients, tokens, identifiers, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return statuses


def test_twenty_at_once_keep_amounts_apart_and_the_cap_exact(app_factory, room, database):
    """20 concurrent requests: one user gets exactly CAP pending; 20 users of one account get 20 distinct amounts."""
    if database.kind != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property; SQLite serialises writers by design")
    app = app_factory(ROOM_ACCOUNT_RATE_LIMIT="100 per minute", LOGIN_RATE_LIMIT="1000 per minute")
    with app.app_context():
        owner = person(quick_user("one@example.com"))
    one = [sign_in(app, owner) for _ in range(20)]  # 20 sessions of one user
    statuses = _race(app, one, [f"player-{i}" for i in range(20)])
    assert sorted(statuses) == [302] * CAP + [422] * (20 - CAP)
    assert len(_accounts(app, status="pending")) == CAP

    many = [_client(app, f"u{i}@example.com") for i in range(20)]
    statuses = _race(app, many, ["contested"] * 20)
    assert statuses == [302] * 20
    contested = _accounts(app, identifier_key="contested")
    assert len(contested) == 20
    assert len({a.verification_amount for a in contested}) == 20  # a transfer proves exactly one of them


# --- the wallet page: live badge, removal, clear answers -----------------------------------------------------


def test_the_badge_turns_verified_live(room, room_app):
    """Does the room-accounts fragment poll while awaiting, and show "verified" (and stop) once the amount arrives?"""
    client = _client(room_app)
    assert _add(client, "Fish42").status_code == 302
    page = client.get("/wallet/").get_data(as_text=True)
    assert 'id="room-accounts"' in page and 'hx-disinherit="*"' in page
    fragment = client.get("/wallet/room-accounts", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "ожидает подтверждения" in fragment and 'hx-trigger="every 3s"' in fragment
    assert "<header" not in fragment  # a fragment, not a page
    (account,) = _accounts(room_app)
    room.open("Fish42", 50_00)
    room.player_transfer("Fish42", PLATFORM, account.verification_amount)
    with room_app.app_context():
        poll_room_feed_once()
    fragment = client.get("/wallet/room-accounts", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "подтверждён" in fragment and "ожидает подтверждения" not in fragment
    assert "hx-trigger" not in fragment  # nothing left to wait for


def test_a_pending_account_can_be_removed_a_verified_one_stays(room_app):
    """Is a mistyped pending account removed (audited), a verified one kept with a reason, another's a 404?"""
    client = _client(room_app)
    _add(client, "mistyped")
    _add(client, "right")
    mistyped, right = _accounts(room_app)
    with room_app.app_context():
        room_accounts.mark_verified(db.session.get(RoomAccount, right.id), by="ops")
        db.session.commit()
    token = csrf_from(client.get("/wallet/").get_data(as_text=True))
    removed = client.post(f"/wallet/room-accounts/{mistyped.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    assert "удалён" in client.get("/wallet/").get_data(as_text=True)
    kept = client.post(f"/wallet/room-accounts/{right.id}/remove", data={"csrf_token": token})
    assert kept.status_code == 422 and "остаётся привязанным" in kept.get_data(as_text=True)
    assert [a.identifier for a in _accounts(room_app)] == ["right"]
    stranger = _client(room_app, "stranger@example.com")
    _add(stranger, "strangers-own")
    token = csrf_from(stranger.get("/wallet/").get_data(as_text=True))
    assert stranger.post(f"/wallet/room-accounts/{right.id}/remove", data={"csrf_token": token}).status_code == 404
    with room_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "room_account.removed")) == 1


def test_re_adding_says_already_added_and_anothers_says_only_cannot(room_app):
    """Re-adding one's own says so; adding another user's verified account does not say it is someone's."""
    owner = _client(room_app, "owner@example.com")
    _add(owner, "fish42")
    again = _add(owner, "fish42")
    assert again.status_code == 302
    assert "уже добавлен" in owner.get("/wallet/").get_data(as_text=True)
    with room_app.app_context():
        room_accounts.mark_verified(db.session.scalar(sa.select(RoomAccount)), by="ops")
        db.session.commit()
    other = _client(room_app, "other@example.com")
    refused = _add(other, "fish42")
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "нельзя добавить" in body
    assert "другому пользователю" not in body and "another user" not in body
    assert len(_accounts(room_app)) == 1


# --- ops verify by hand (a player with $0 in the room) -------------------------------------------------------


def test_ops_verify_a_room_account_by_hand(room_app):
    """Can ops verify a $0 player's account from the user page, only with the room's exact spelling and a reason?"""
    buyer = _client(room_app, "buyer@example.com")
    _add(buyer, "NewFish")
    (account,) = _accounts(room_app)
    with room_app.app_context():
        ops = person(quick_user("ops@example.com", role=Role.OPS, totp=True))
    client = sign_in(room_app, ops)
    page = f"/admin/users/{account.user_id}"
    assert "Подтвердить вручную" in client.get(page).get_data(as_text=True)
    action = f"/admin/users/{account.user_id}/room-accounts/{account.id}/verify"
    wrong = post_form(client, page, action, {"rav-spelling": "newfish", "rav-reason": "profile screenshot"})
    assert wrong.status_code == 422 and "регистр" in wrong.get_data(as_text=True)
    assert not _accounts(room_app)[0].is_verified
    assert post_form(client, page, action, {"rav-spelling": "NewFish", "rav-reason": ""}).status_code == 422
    done = post_form(client, page, action, {"rav-spelling": "NewFish", "rav-reason": "profile screenshot #77"})
    assert done.status_code == 302
    verified = _accounts(room_app)[0]
    assert verified.is_verified and verified.verified_by == "ops"
    with room_app.app_context():
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "room_account.verified"))
        assert event.actor_id == ops.id and event.reason == "profile screenshot #77"
    assert 'name="co-amount"' in buyer.get("/wallet/").get_data(as_text=True)  # the buyer can cash out now


def test_the_wallet_says_what_to_do_with_no_dollars_in_the_room(room_app):
    """Does a pending account tell a player with no dollars in the room how to get it verified?"""
    client = _client(room_app)
    _add(client, "fish42")
    assert "операторы могут подтвердить аккаунт вручную" in client.get("/wallet/").get_data(as_text=True)


# --- waiting for the room is bounded ----------------------------------------------------------------------------


def test_waiting_for_the_room_says_when_nothing_came(room, room_app):
    """After "I have sent dollars" and QUIET_SECONDS with nothing credited: the spinner gives way to what to check;
    a credit then ends the wait."""
    client = _client(room_app)
    with room_app.app_context():
        user = db.session.scalar(sa.select(User))
        room_accounts.mark_verified(room_accounts.add_room_account(user, "fish42"), by="ops")
        db.session.commit()
    token = csrf_from(client.get("/wallet/").get_data(as_text=True))
    client.post("/wallet/expect-deposit", data={"csrf_token": token})
    live = client.get("/wallet/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Ждём ответа рума" in live and "Из рума пока ничего не пришло" not in live
    with client.session_transaction() as s:
        s[EXPECT_SINCE_KEY] = time.time() - QUIET_SECONDS - 1
    live = client.get("/wallet/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Из рума пока ничего не пришло" in live and "Ждём ответа рума" not in live
    assert PLATFORM in live and 'hx-trigger="every 3s"' in live  # still watching until the window ends
    room.open("fish42", 100_00)
    room.player_transfer("fish42", PLATFORM, 40_00)
    with room_app.app_context():
        poll_room_feed_once()
    live = client.get("/wallet/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Из рума пока ничего не пришло" not in live and "Ждём ответа рума" not in live
    assert 'hx-trigger="every 3s"' in live  # a second transfer sent right after is still seen live


def test_a_slow_cash_out_is_explained(room_app):
    """A cash-out the room has not confirmed for minutes: does the spinner give way to what happens next?"""
    import uuid

    from app import ledger
    from app.models.room import CashOut
    from app.room import cashouts

    client = _client(room_app)
    with room_app.app_context():
        user = db.session.scalar(sa.select(User))
        account = room_accounts.add_room_account(user, "fish42")
        room_accounts.mark_verified(account, by="ops")
        ledger.transfer(key="fund", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                        credit=ledger.wallet_of(user.id), amount=50_00, kind="room_deposit")
        cash_out = cashouts.request_cash_out(user, account.id, 10_00, uuid.uuid4().hex)
        db.session.commit()
        cash_out_id = cash_out.id
    live = client.get("/wallet/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Ждём ответа рума" in live and "Рум ещё не подтвердил вывод" not in live
    with room_app.app_context():
        db.session.execute(sa.update(CashOut).where(CashOut.id == cash_out_id)
                           .values(created_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
    live = client.get("/wallet/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Рум ещё не подтвердил вывод" in live and "Ждём ответа рума" not in live


def test_a_re_verification_with_old_cash_outs_is_never_deleted(room, room_ctx):
    """An account the migration sent back to verification has cash-outs: do expiry, removal and another user's
    verification of the same room account leave it in place instead of failing?"""
    import uuid

    from app import ledger
    from app.room import cashouts

    user = quick_user("old@example.com")
    account = room_accounts.add_room_account(user, "fish42")
    room_accounts.mark_verified(account, by="ops")
    ledger.transfer(key="fund", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                    credit=ledger.wallet_of(user.id), amount=50_00, kind="room_deposit")
    cashouts.request_cash_out(user, account.id, 10_00, uuid.uuid4().hex)
    db.session.commit()
    account_id = account.id
    db.session.execute(sa.update(RoomAccount).where(RoomAccount.id == account_id).values(
        status="pending", verified_by=None, verified_at=None, verification_expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert room_accounts.sweep_expired() == 0
    with pytest.raises(room_accounts.ValidationFailed):
        room_accounts.remove_pending(user, account_id)
    db.session.rollback()
    other = quick_user("owner@example.com")
    room.open("fish42", 50_00)
    mine = room_accounts.add_room_account(other, "fish42")
    db.session.commit()
    room.player_transfer("fish42", PLATFORM, mine.verification_amount)
    poll_room_feed_once()
    assert db.session.get(RoomAccount, mine.id).is_verified
    assert db.session.get(RoomAccount, account_id).status == "pending"
