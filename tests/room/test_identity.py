"""Room identifiers and letter case, both directions, against the sandbox room over HTTP.

The rule (docs/room-contract.md): an e-mail matches in any case; a nickname or
player id only exactly as the room shows it.  The sandbox room keeps ``Name``
and ``name`` as two accounts, so a transfer from one must never be credited to
the owner of the other, and a cash-out must go to the spelling that was proved.
"""
import uuid

import pytest
import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.jobs.room import poll_room_feed_once, send_cash_out_now
from app.models.room import RoomAccount, RoomTransfer
from app.room import cashouts, room_accounts
from tests.helpers import gen_user
from tests.sandboxes import PLATFORM


def _wallet(user) -> int:
    return ledger.balance(ledger.wallet_of(user.id)).available


def _verify_through_the_room(room, user, typed: str, room_spelling: str) -> RoomAccount:
    """Register ``typed``, then send its verification amount from the room account ``room_spelling``."""
    account = room_accounts.add_room_account(user, typed)
    db.session.commit()
    room.player_transfer(room_spelling, PLATFORM, account.verification_amount)
    poll_room_feed_once()
    return db.session.get(RoomAccount, account.id)


def _fund(user, cents: int) -> None:
    ledger.transfer(key=f"fund:{uuid.uuid4().hex}", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                    credit=ledger.wallet_of(user.id), amount=cents, kind="room_deposit")
    db.session.commit()


def test_a_differently_cased_nickname_is_not_credited_to_the_owner(room, room_ctx):
    """A transfer from room account ATK.BUYER1: is it kept from the owner of atk.buyer1 (unmatched for ops)?"""
    owner = gen_user("owner@example.com")
    room.open("atk.buyer1", 100_00)
    room.open("ATK.BUYER1", 100_00)  # another player: the room tells them apart
    account = _verify_through_the_room(room, owner, "atk.buyer1", "atk.buyer1")
    assert account.is_verified
    before = _wallet(owner)
    room.player_transfer("ATK.BUYER1", PLATFORM, 50_00)
    poll_room_feed_once()
    row = db.session.scalar(sa.select(RoomTransfer).where(RoomTransfer.counterparty == "ATK.BUYER1"))
    assert row.status == "unmatched" and row.user_id is None
    assert _wallet(owner) == before
    room.player_transfer("atk.buyer1", PLATFORM, 20_00)  # the owner's own account still credits
    poll_room_feed_once()
    assert _wallet(owner) > before
    assert ledger.verify_ledger().ok


def test_verification_needs_the_exact_nickname(room, room_ctx):
    """Typed squat.0002 but the room account is Squat.0002: does its transfer not verify the typed one?"""
    user = gen_user()
    room.open("Squat.0002", 100_00)
    account = _verify_through_the_room(room, user, "squat.0002", "Squat.0002")
    assert not account.is_verified
    assert db.session.scalar(sa.select(RoomTransfer.status)) == "unmatched"


def test_cash_out_goes_to_the_proved_spelling(room, room_ctx):
    """Verified through Squat.0002: does a cash-out arrive in Squat.0002 and not in squat.0002?"""
    user = gen_user()
    room.open(PLATFORM, 0)
    room.post("/_sandbox/room/accounts", {"account": PLATFORM, "balance": 1_000_00})
    room.open("Squat.0002", 10_00)
    room.open("squat.0002", 0)  # someone else
    account = _verify_through_the_room(room, user, "Squat.0002", "Squat.0002")
    assert account.is_verified and account.identifier == "Squat.0002"
    _fund(user, 30_00)
    cash_out = cashouts.request_cash_out(user, account.id, 25_00, uuid.uuid4().hex)
    db.session.commit()
    assert send_cash_out_now(cash_out.id) == "sent"
    assert room.account("squat.0002")["balance"] == 0
    received = [t for t in room.account("Squat.0002")["transfers"] if t["from"] == PLATFORM]
    assert [(t["to"], t["amount"]) for t in received] == [("Squat.0002", 25_00)]
    assert ledger.verify_ledger().ok


def test_e_mail_matches_in_any_case_and_keeps_the_rooms_spelling(room, room_ctx):
    """Typed Seller@Mail.Example, the room shows seller@mail.example: verified, credited, cashed out to it?"""
    user = gen_user()
    room.open(PLATFORM, 0)
    room.post("/_sandbox/room/accounts", {"account": PLATFORM, "balance": 1_000_00})
    room.open("seller@mail.example", 100_00)
    account = _verify_through_the_room(room, user, "Seller@Mail.Example", "seller@mail.example")
    assert account.is_verified and account.identifier == "seller@mail.example"
    room.player_transfer("seller@mail.example", PLATFORM, 40_00)
    poll_room_feed_once()
    assert {s for s in db.session.scalars(sa.select(RoomTransfer.status))} == {"credited"}
    cash_out = cashouts.request_cash_out(user, account.id, 10_00, uuid.uuid4().hex)
    db.session.commit()
    assert send_cash_out_now(cash_out.id) == "sent"
    assert room.account("seller@mail.example")["balance"] == 100_00 - account.verification_amount - 40_00 + 10_00


def test_a_cash_out_to_an_e_mail_typed_in_another_case_is_sent(room, room_ctx):
    """Verified by ops as Seller@Mail.Example, the room spells it seller@mail.example: sent, not "unknown"?"""
    user = gen_user()
    room.open(PLATFORM, 0)
    room.post("/_sandbox/room/accounts", {"account": PLATFORM, "balance": 1_000_00})
    room.open("seller@mail.example", 0)
    account = room_accounts.add_room_account(user, "Seller@Mail.Example")
    room_accounts.mark_verified(account, by="ops")
    _fund(user, 30_00)
    cash_out = cashouts.request_cash_out(user, account.id, 12_00, uuid.uuid4().hex)
    db.session.commit()
    assert send_cash_out_now(cash_out.id) == "sent"
    assert room.account("seller@mail.example")["balance"] == 12_00


def test_a_squatter_cannot_lock_the_owner_out(room, room_ctx):
    """Another user waits to verify fish42 first: can its owner still add and verify it, and the squatter not?"""
    squatter, owner = gen_user("squat@example.com"), gen_user("owner@example.com")
    squatted = room_accounts.add_room_account(squatter, "fish42")
    db.session.commit()
    room.open("fish42", 100_00)
    account = _verify_through_the_room(room, owner, "fish42", "fish42")
    assert account.is_verified and account.user_id == owner.id
    assert db.session.get(RoomAccount, squatted.id) is None  # it can never be verified now
    with pytest.raises(room_accounts.ValidationFailed, match="нельзя добавить|cannot be added"):
        room_accounts.add_room_account(squatter, "fish42")


def test_the_sandbox_room_tells_nicknames_apart_but_not_e_mails(room):
    """Does the sandbox room keep Name and name apart, and find an e-mail account in any case?"""
    room.open("Name", 5_00)
    room.open("name", 7_00)
    assert room.account("Name")["balance"] == 5_00 and room.account("name")["balance"] == 7_00
    room.open("Player@Mail.example", 3_00)
    room.open("player@MAIL.example", 1_00)  # a top-up of the same account
    shown = room.account("PLAYER@mail.example")
    assert shown["account"] == "Player@Mail.example" and shown["balance"] == 4_00
