"""`flask reserves publish` on both engines: what is stored, signed, audited, refused, and never changed."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app import ledger
from app.errors import NotFound
from app.extensions import db
from app.models import AuditEvent
from app.models.reserves import ReserveLeaf, ReserveSnapshot
from app.reserves import snapshots
from app.room import room_accounts
from app.room.cashouts import request_cash_out
from tests.helpers import gen_user
from tests.reserves.conftest import credit, ops_member
from tests.reserves.verifier import run
from tests.sandboxes import PLATFORM


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_the_cli_publishes_a_signed_snapshot_of_every_balance_with_the_room_balance(room, room_ctx, tmp_path):
    """Users with dollars, a held cash-out and dollars on sale: is each leaf available + reserved (+ on sale),
    the total their sum, the room balance the room's own, the snapshot signed, audited, and each proof valid?"""
    ops = ops_member()
    alice, bob, carol = (gen_user(f"{n}@example.com") for n in ("alice", "bob", "carol"))
    credit(alice.id, 120_00)
    credit(bob.id, 30_50)
    account = room_accounts.add_room_account(bob, "bob-nick")
    room_accounts.mark_verified(account, by="test")
    request_cash_out(bob, account.id, 10_00, uuid.uuid4().hex)  # a hold: reserved, still owed to bob
    db.session.commit()
    room.open(PLATFORM, 160_00)

    result = room_ctx.test_cli_runner().invoke(args=["reserves", "publish", "--by", "ops@example.com"])
    assert result.exit_code == 0, result.output
    snapshot = snapshots.latest()
    assert snapshot.root_hash in result.output and "WARNING" not in result.output
    leaves = {leaf.user_id: leaf.balance for leaf in db.session.scalars(sa.select(ReserveLeaf))}
    assert leaves == {alice.id: 120_00, bob.id: 30_50}  # carol holds no account: nothing owed, no leaf
    assert carol.id not in leaves
    assert (snapshot.total_liabilities, snapshot.leaf_count) == (150_50, 2)
    assert (snapshot.room_balance, snapshot.room_balance_source) == (160_00, "room_api")
    assert snapshot.published_by_id == ops.id and snapshot.covered and snapshot.shortfall == 0
    assert snapshots.signature_verifies(snapshot)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "reserves.published"))
    assert event.actor_id == ops.id and event.target_id == str(snapshot.id)
    assert event.details["root_hash"] == snapshot.root_hash and event.details["total_liabilities"] == 150_50
    for user in (alice, bob):
        leaf_id = db.session.scalar(sa.select(ReserveLeaf.id).where(ReserveLeaf.user_id == user.id))
        status, output = run(snapshots.proof(user.id, leaf_id), tmp_path, public_key=snapshot.public_key)
        assert status == 0, output


def test_a_shortfall_is_published_with_a_warning(room, room_ctx):
    """Liabilities above the room balance are published as they are, and the command says so."""
    ops_member()
    credit(gen_user().id, 50_00)
    db.session.commit()
    room.open(PLATFORM, 20_00)
    result = room_ctx.test_cli_runner().invoke(args=["reserves", "publish", "--by", "ops@example.com"])
    assert result.exit_code == 0, result.output
    assert "WARNING: liabilities exceed the room balance by 30.00 USD" in result.output
    assert snapshots.latest().shortfall == 30_00


@pytest.mark.parametrize("args", [
    ["--by", "user@example.com"],      # not staff
    ["--by", "nobody@example.com"],    # no such account
    ["--by", "ops@example.com", "--room-balance", "10.00"],  # the sandbox room is read, never typed over
])
def test_the_cli_refuses_and_writes_nothing(room, room_ctx, args):
    """A non-staff publisher, an unknown one, or a typed balance where the room can be read: refused, nothing stored."""
    ops_member()
    credit(gen_user().id, 5_00)
    db.session.commit()
    room.open(PLATFORM, 5_00)
    result = room_ctx.test_cli_runner().invoke(args=["reserves", "publish", *args])
    assert result.exit_code != 0
    assert _count(ReserveSnapshot) == 0 and _count(ReserveLeaf) == 0
    assert not db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "reserves.published"))


def test_the_cli_refuses_when_the_room_cannot_be_read(room, room_ctx):
    """The room answering 503: nothing is published (a snapshot without a real room balance would mislead)."""
    ops_member()
    credit(gen_user().id, 5_00)
    db.session.commit()
    room.faults(error_rate=1.0)
    result = room_ctx.test_cli_runner().invoke(args=["reserves", "publish", "--by", "ops@example.com"])
    assert result.exit_code == 1 and "cannot be read now" in result.output
    assert _count(ReserveSnapshot) == 0


def test_with_a_connector_that_cannot_read_the_balance_ops_type_it(app_factory):
    """The manual connector: --room-balance is required, parsed strictly, and recorded as entered by ops."""
    app = app_factory(ROOM_CONNECTOR="manual")
    with app.app_context():
        ops_member()
        credit(gen_user().id, 75_00)
        db.session.commit()
        cli = app.test_cli_runner()
        missing = cli.invoke(args=["reserves", "publish", "--by", "ops@example.com"])
        assert missing.exit_code == 2 and "--room-balance" in missing.output
        bad = cli.invoke(args=["reserves", "publish", "--by", "ops@example.com", "--room-balance", "12.345"])
        assert bad.exit_code == 2
        assert _count(ReserveSnapshot) == 0
        ok = cli.invoke(args=["reserves", "publish", "--by", "ops@example.com", "--room-balance", "1 000,50"])
        assert ok.exit_code == 0, ok.output
        snapshot = snapshots.latest()
        assert (snapshot.room_balance, snapshot.room_balance_source) == (1000_50, "entered_by_ops")
        zero = cli.invoke(args=["reserves", "publish", "--by", "ops@example.com", "--room-balance", "0"])
        assert zero.exit_code == 0 and snapshots.latest().room_balance == 0


def test_nothing_to_publish_is_refused(app_factory):
    """No user holds an account yet: a tree of nothing is refused with a reason, not stored."""
    app = app_factory(ROOM_CONNECTOR="manual")
    with app.app_context():
        ops_member()
        result = app.test_cli_runner().invoke(args=["reserves", "publish", "--by", "ops@example.com",
                                                    "--room-balance", "1.00"])
        assert result.exit_code == 1 and "nothing to publish" in result.output


def test_production_does_not_sign_with_a_derived_key(app_factory):
    """Without RESERVES_SIGNING_KEY, a production-like config refuses to publish instead of signing with a guess."""
    app = app_factory(ROOM_CONNECTOR="manual", RESERVES_SIGNING_KEY="", RESERVES_SIGNING_KEY_REQUIRED=True)
    with app.app_context():
        ops_member()
        credit(gen_user().id, 1_00)
        db.session.commit()
        result = app.test_cli_runner().invoke(args=["reserves", "publish", "--by", "ops@example.com",
                                                    "--room-balance", "1.00"])
        assert result.exit_code == 1 and "RESERVES_SIGNING_KEY" in result.output
        assert _count(ReserveSnapshot) == 0


def _published(app) -> ReserveSnapshot:
    ops = ops_member()
    user = gen_user()
    credit(user.id, 9_00)
    snapshot = snapshots.publish(ops, room_balance=9_00, room_balance_source="entered_by_ops", config=app.config)
    db.session.commit()
    return snapshot


@pytest.mark.parametrize("statement", [
    "UPDATE reserve_snapshot SET total_liabilities = 0",
    "UPDATE reserve_snapshot SET room_balance = room_balance + 1",
    "DELETE FROM reserve_snapshot",
    "UPDATE reserve_leaf SET balance = 0",
    "DELETE FROM reserve_leaf",
])
def test_a_published_snapshot_never_changes(app_ctx, statement):
    """The database refuses any UPDATE or DELETE of a snapshot or a leaf, whatever code path asks."""
    _published(app_ctx)
    with pytest.raises(sa.exc.DBAPIError, match="immutable"):
        db.session.execute(sa.text(statement))
        db.session.flush()
    db.session.rollback()


def test_the_database_refuses_a_negative_leaf_and_a_second_leaf_for_a_user(app_ctx):
    """CHECK balance >= 0 and UNIQUE (snapshot, user) hold even for raw inserts."""
    snapshot = _published(app_ctx)
    leaf = db.session.scalar(sa.select(ReserveLeaf))
    row = {"snapshot_id": snapshot.id, "user_id": leaf.user_id, "position": 5, "salt": "ab" * 32, "balance": 1}
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.insert(ReserveLeaf), [row])
    db.session.rollback()
    other = gen_user("other@example.com")
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.insert(ReserveLeaf), [{**row, "user_id": other.id, "balance": -1}])
    db.session.rollback()


def test_liabilities_are_one_figure_per_user_over_wallet_and_escrows(app_ctx):
    """A seller's wallet and sale escrow are one leaf: the dollars are theirs wherever the platform holds them."""
    seller = gen_user("seller@example.com")
    credit(seller.id, 100_00)
    ledger.transfer(key="escrow-fund", debit=ledger.wallet_of(seller.id), credit=ledger.escrow_of(1, seller.id),
                    amount=40_00, kind=ledger.TransferKind.ESCROW_FUND)
    db.session.commit()
    assert snapshots.liabilities() == {seller.id: 100_00}


def test_the_service_refuses_a_negative_room_balance_and_a_publisher_who_is_not_staff(app_ctx):
    """Called directly (not only through the CLI): bad input raises before anything is written."""
    from app.errors import NotPermitted, ValidationFailed

    ops, user = ops_member(), gen_user()
    credit(user.id, 3_00)
    db.session.commit()
    with pytest.raises(ValidationFailed):
        snapshots.publish(ops, room_balance=-1, room_balance_source="entered_by_ops", config=app_ctx.config)
    with pytest.raises(NotPermitted):
        snapshots.publish(user, room_balance=3_00, room_balance_source="entered_by_ops", config=app_ctx.config)
    db.session.rollback()
    assert _count(ReserveSnapshot) == 0 and _count(ReserveLeaf) == 0


def test_a_proof_rebuilt_from_the_stored_leaves_carries_the_published_root_and_only_for_its_owner(app_ctx):
    """The service rebuilds the tree from the stored leaves: the root it reaches is the published one; a
    leaf asked for by someone else is NotFound (the page's 404)."""
    snapshot = _published(app_ctx)
    leaf = db.session.scalar(sa.select(ReserveLeaf))
    body = snapshots.proof(leaf.user_id, leaf.id)
    assert body["root"] == {"hash": snapshot.root_hash, "sum": snapshot.total_liabilities}
    with pytest.raises(NotFound):
        snapshots.proof(leaf.user_id + 1000, leaf.id)
