"""Room deposits: every incoming room transfer is stored once and credited once."""
import sqlalchemy as sa

from app import ledger
from app.core.settings import current_settings
from app.extensions import db
from app.jobs.room import poll_room_feed_once
from app.models.room import RoomAccount, RoomTransfer
from app.room import room_accounts, room_ingest
from tests.helpers import gen_user
from tests.sandboxes import PLATFORM


def _verified_seller(room, email="seller@example.com", handle="fish42"):
    user = gen_user(email)
    account = room_accounts.add_room_account(user, handle)
    room_accounts.mark_verified(account, by="ops")
    db.session.commit()
    room.open(handle, 1_000_000)
    return user


def _wallet(user) -> int:
    return ledger.balance(ledger.wallet_of(user.id)).available


def _verify_ok():
    report = ledger.verify_ledger()
    assert report.ok, report.violations


def test_credit_arrives_once_minus_commission(room, room_ctx):
    """Is a transfer from a verified account credited once, minus commission, however often the feed is read?"""
    seller = _verified_seller(room)
    room.player_transfer("fish42", PLATFORM, 10_000)
    for _ in range(3):
        poll_room_feed_once()
    commission = room_ingest.commission_for(10_000, current_settings())
    assert commission == 250
    assert _wallet(seller) == 10_000 - commission
    assert ledger.balance(ledger.platform_account(ledger.AccountKind.FEE_REVENUE)).posted == commission
    assert ledger.balance(ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS)).posted == 10_000
    _verify_ok()


def test_duplicate_and_reordered_pages_credit_exactly_once(room, room_ctx):
    """With every page repeated and shuffled, is each of many transfers still credited exactly once?"""
    seller = _verified_seller(room)
    amounts = [100 + i for i in range(40)]
    for amount in amounts:
        room.player_transfer("fish42", PLATFORM, amount)
    room.faults(duplicate_rate=1.0, reorder_rate=1.0)
    from app.connectors.room.sandbox import SandboxRoomConnector

    small_pages = SandboxRoomConnector(room.url, room.token, platform_account=PLATFORM)
    original = small_pages.fetch_transfers
    small_pages.fetch_transfers = lambda cursor, limit=500: original(cursor, limit=7)
    for _ in range(4):
        poll_room_feed_once(small_pages)
    rows = db.session.scalars(sa.select(RoomTransfer)).all()
    assert len(rows) == len(amounts)
    assert all(r.status == "credited" for r in rows)
    expected = sum(a - room_ingest.commission_for(a, current_settings()) for a in amounts)
    assert _wallet(seller) == expected
    _verify_ok()


def test_crash_before_commit_loses_and_doubles_nothing(room, room_ctx, monkeypatch):
    """If the poller dies after fetching but before committing, does the next run credit everything once?"""
    seller = _verified_seller(room)
    for amount in (500, 700, 900):
        room.player_transfer("fish42", PLATFORM, amount)

    def crash(*args, **kwargs):
        raise SystemExit("killed mid-page")

    monkeypatch.setattr(room_ingest, "set_cursor", crash)
    try:
        poll_room_feed_once()
    except SystemExit:
        db.session.rollback()
    monkeypatch.undo()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoomTransfer)) == 0
    assert room_ingest.get_cursor("sandbox") is None
    poll_room_feed_once()
    poll_room_feed_once()
    assert _wallet(seller) == sum(a - room_ingest.commission_for(a, current_settings()) for a in (500, 700, 900))
    _verify_ok()


def test_verification_by_amount(room, room_ctx):
    """Does sending exactly the verification amount verify the account and credit it like a deposit?"""
    user = gen_user()
    account = room_accounts.add_room_account(user, "  Shark.Player@Mail.example ")
    db.session.commit()
    assert account.identifier == "Shark.Player@Mail.example"  # trimmed, the case kept
    room.open("shark.player@mail.example", 10_000)  # the room spells the e-mail otherwise: the same account
    room.player_transfer("shark.player@mail.example", PLATFORM, account.verification_amount + 1)
    poll_room_feed_once()
    assert not db.session.get(RoomAccount, account.id).is_verified
    room.player_transfer("shark.player@mail.example", PLATFORM, account.verification_amount)
    poll_room_feed_once()
    verified = db.session.get(RoomAccount, account.id)
    assert verified.is_verified
    assert verified.identifier == "shark.player@mail.example"  # the room's own spelling is stored
    statuses = sorted(db.session.scalars(sa.select(RoomTransfer.status)))
    assert statuses == ["credited", "unmatched"]
    credited = account.verification_amount - room_ingest.commission_for(account.verification_amount, current_settings())
    assert _wallet(user) == credited
    _verify_ok()


def test_unknown_sender_goes_to_unmatched_and_ops_can_assign_once(room, room_ctx):
    """Is an unknown sender parked in suspense, and can ops credit it to a user exactly once?"""
    from app.models import Role

    room.open("stranger", 5_000)
    room.player_transfer("stranger", PLATFORM, 2_000)
    poll_room_feed_once()
    row = db.session.scalar(sa.select(RoomTransfer))
    assert row.status == "unmatched"
    suspense = ledger.platform_account(ledger.AccountKind.UNMATCHED_INCOMING)
    assert ledger.balance(suspense).posted == 2_000
    ops = gen_user("ops@example.com", role=Role.OPS)
    user = gen_user("owner@example.com")
    room_ingest.assign_unmatched(row.id, user.id, actor=ops, reason="sender proved ownership by e-mail")
    db.session.commit()
    import pytest

    from app.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        room_ingest.assign_unmatched(row.id, user.id, actor=ops, reason="again")
    db.session.rollback()
    assert ledger.balance(suspense).posted == 0
    assert _wallet(user) == 2_000 - room_ingest.commission_for(2_000, current_settings())
    _verify_ok()


def test_one_room_account_belongs_to_one_user(room_ctx):
    """Is a room account verified by someone else refused without saying whose it is, and a re-add reported?"""
    import pytest

    from app.errors import ValidationFailed

    first, second = gen_user("a@example.com"), gen_user("b@example.com")
    room_accounts.mark_verified(room_accounts.add_room_account(first, "Fish42"), by="ops")
    db.session.commit()
    with pytest.raises(ValidationFailed, match="нельзя добавить|cannot be added") as refused:
        room_accounts.add_room_account(second, "Fish42")
    assert "another user" not in refused.value.message and "другому" not in refused.value.message
    with pytest.raises(room_accounts.AlreadyAdded):
        room_accounts.add_room_account(first, "Fish42")
    # "fish42" is another room account for the room (nicknames are exact), so the second user may add it
    assert room_accounts.add_room_account(second, "fish42").identifier == "fish42"


def test_statement_rows_are_credited_once(room_ctx):
    """Do rows from an uploaded statement credit once, even when the same file is uploaded twice?"""
    from app.connectors.room.statement import parse_statement

    user = gen_user()
    account = room_accounts.add_room_account(user, "fish42")
    room_accounts.mark_verified(account, by="ops")
    csv = "id,direction,counterparty,amount,occurred_at,note\nrt-1,in,fish42,12.50,2026-11-28T10:00:00,\n"
    for _ in range(2):
        room_ingest.ingest(parse_statement(csv), source="statement")
        db.session.commit()
    assert _wallet(user) == 1250 - room_ingest.commission_for(1250, current_settings())
    _verify_ok()
