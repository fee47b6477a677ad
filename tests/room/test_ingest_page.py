"""Bulk ingestion of a feed page: the same outcome as one transfer at a time, exactly once."""
from datetime import timedelta

import sqlalchemy as sa

from app import ledger
from app.connectors.room.base import RoomTransfer as FeedTransfer
from app.core.settings import current_settings
from app.database import utcnow
from app.extensions import db
from app.ledger import LedgerTransfer
from app.models.room import RoomAccount, RoomTransfer
from app.room import room_accounts, room_ingest
from tests.helpers import gen_user


def _feed(n: int, sender: str, amount: int, start: int = 0) -> list[FeedTransfer]:
    now = utcnow()
    return [FeedTransfer(room_transfer_id=f"rt-{sender}-{start + i}", direction="in", counterparty=sender,
                         amount=amount, occurred_at=now - timedelta(seconds=1000 - start - i), note=None)
            for i in range(n)]


def _user_with_account(email: str, handle: str, *, verified: bool):
    user = gen_user(email)
    account = room_accounts.add_room_account(user, handle)
    if verified:
        room_accounts.mark_verified(account, by="ops")
    db.session.commit()
    return user, account


def _available(user) -> int:
    return ledger.balance(ledger.wallet_of(user.id)).available


def _transfers() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransfer))


def test_page_settles_as_one_by_one_would(app_ctx):
    """Are verified senders credited minus commission, unknown ones parked, and a verification amount honoured?"""
    alice, _ = _user_with_account("alice@example.com", "alice", verified=True)
    bob, bob_account = _user_with_account("bob@example.com", "bob", verified=False)
    # "alice " is alice (blanks trimmed); "Alice" is another room account (a nickname matches only exactly)
    page = (_feed(3, "alice ", 10_000) + _feed(1, "stranger", 5_000) + _feed(1, "Alice", 7_000, start=30)
            + _feed(1, "bob", bob_account.verification_amount, start=10) + _feed(2, "bob", 20_000, start=20))
    outcome = room_ingest.ingest_page(page, source="feed")
    db.session.commit()
    assert outcome == {"credited": 6, "unmatched": 2}
    settings = current_settings()
    fee = room_ingest.commission_for(10_000, settings)
    assert _available(alice) == 3 * (10_000 - fee)
    bob_total = bob_account.verification_amount + 2 * 20_000
    bob_fees = (room_ingest.commission_for(bob_account.verification_amount, settings)
                + 2 * room_ingest.commission_for(20_000, settings))
    assert _available(bob) == bob_total - bob_fees
    assert db.session.get(RoomAccount, bob_account.id).is_verified
    rows = {r.room_transfer_id: r for r in db.session.scalars(sa.select(RoomTransfer))}
    assert rows["rt-stranger-0"].status == "unmatched" and rows["rt-stranger-0"].user_id is None
    assert rows["rt-alice -0"].status == "credited" and rows["rt-alice -0"].commission == fee
    assert rows["rt-alice -0"].user_id == alice.id and rows["rt-alice -0"].resolved_at is not None
    assert rows["rt-Alice-30"].status == "unmatched" and rows["rt-Alice-30"].user_id is None
    suspense = ledger.platform_account(ledger.AccountKind.UNMATCHED_INCOMING)
    assert ledger.balance(suspense).posted == 5_000 + 7_000
    report = ledger.verify_ledger()
    assert report.ok, report.violations


def test_repeated_and_overlapping_pages_post_nothing_twice(app_ctx):
    """Read the same page again, and one overlapping it: is anything stored or credited twice?"""
    alice, _ = _user_with_account("alice@example.com", "alice", verified=True)
    first = _feed(50, "alice", 1_000)
    room_ingest.ingest_page(first, source="feed")
    db.session.commit()
    balance, transfers = _available(alice), _transfers()
    assert room_ingest.ingest_page(first, source="feed") == {"credited": 0, "unmatched": 0}
    overlapping = first[25:] + _feed(10, "alice", 1_000, start=50)
    assert room_ingest.ingest_page(overlapping, source="feed") == {"credited": 10, "unmatched": 0}
    db.session.commit()
    fee = room_ingest.commission_for(1_000, current_settings())
    assert _available(alice) == balance + 10 * (1_000 - fee)
    assert _transfers() == transfers + 20
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoomTransfer)) == 60


def test_rows_settled_one_by_one_are_not_posted_again(app_ctx):
    """A page whose transfers the per-transfer path already settled: does the bulk path leave them alone?"""
    alice, _ = _user_with_account("alice@example.com", "alice", verified=True)
    page = _feed(5, "alice", 2_000)
    room_ingest.ingest(page[:3], source="feed")
    db.session.commit()
    balance = _available(alice)
    assert room_ingest.ingest_page(page, source="feed") == {"credited": 2, "unmatched": 0}
    db.session.commit()
    assert _available(alice) == balance + 2 * (2_000 - room_ingest.commission_for(2_000, current_settings()))
    report = ledger.verify_ledger()
    assert report.ok, report.violations
