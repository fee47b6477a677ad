"""Proof of reserves: publish a signed snapshot of every user's liabilities, and prove one user's inclusion.

A snapshot (``flask reserves publish``) reads every user's dollars from the ledger -- the posted
balances of the accounts they own (wallet and sale escrows), which is their available plus their
reserved dollars -- in one statement, so all balances are of one moment.  Each becomes a leaf of a
Merkle sum tree (:mod:`app.reserves.merkle`) with a fresh random salt, in a random order.
The root hash, the total, the leaves and the platform's room balance are stored together, signed
by the platform's key (:mod:`app.reserves.signing`), with the ops member who published it
and an audit event.  Nothing is ever changed afterwards (the tables refuse UPDATE and DELETE).

A user's proof is rebuilt from the stored leaves on request: their leaf, the siblings' hashes and
sums up to the root, and the signed snapshot; the standalone script checks it.  The full
explanation, and what the proof does not prove, is docs/proof-of-reserves.md.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping

import sqlalchemy as sa

from app.core import audit
from app.database import utcnow
from app.errors import NotFound, NotPermitted, ValidationFailed
from app.extensions import db
from app.ledger.models import DEFAULT_ASSET, AccountKind, LedgerAccount
from app.models import Role, User
from app.models.reserves import ROOM_BALANCE_SOURCES, ReserveLeaf, ReserveSnapshot
from app.reserves import merkle, signing

FORMAT = "pokerpay-proof-of-reserves-v1"
#: the kinds of account whose balance the platform owes to their owner
LIABILITY_KINDS = (AccountKind.WALLET.value, AccountKind.ESCROW.value)
#: staff who may publish a snapshot
PUBLISHERS = (Role.OPS, Role.ADMIN)
#: snapshots the public page lists and charts
HISTORY_SIZE = 60


def liabilities() -> dict[int, int]:
    """Every user's dollars the platform holds for them (cents), read in one statement (one moment).

    The posted balance of a credit-normal account is its available dollars plus those reserved by
    open holds (cash-outs in flight, invoices being paid from an escrow), so each dollar is counted
    once: a held dollar is still in the posted balance it is held from, never in the one it goes to.
    """
    a = LedgerAccount
    rows = db.session.execute(
        sa.select(a.owner_id, sa.func.sum(a.credits_posted - a.debits_posted))
        .where(a.owner_id.is_not(None), a.kind.in_(LIABILITY_KINDS), a.asset == DEFAULT_ASSET)
        .group_by(a.owner_id)
    ).all()
    return {int(owner): int(total) for owner, total in rows}


def _check_publisher(actor: User) -> None:
    if actor is None or actor.role_enum not in PUBLISHERS:
        raise NotPermitted("only an ops member or an admin publishes a proof-of-reserves snapshot")


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def publish(actor: User, *, room_balance: int, room_balance_source: str, config: Mapping) -> ReserveSnapshot:
    """Take, sign and store one snapshot; flushes, never commits (the caller commits).

    Raises before writing anything when the publisher is not staff, the room balance is not a
    non-negative integer, a balance is negative (the ledger forbids it; a negative leaf would let a
    tree hide liabilities) or no user holds an account yet.
    """
    _check_publisher(actor)
    if isinstance(room_balance, bool) or not isinstance(room_balance, int) or room_balance < 0:
        raise ValidationFailed("the room balance must be a non-negative number of cents")
    if room_balance_source not in ROOM_BALANCE_SOURCES:
        raise ValueError(f"unknown room balance source {room_balance_source!r}")
    key_public = signing.public_key_hex(config)  # a missing key refuses before any read
    taken_at = utcnow()
    owed = liabilities()
    negative = sorted(user_id for user_id, cents in owed.items() if cents < 0)
    if negative:
        raise ValidationFailed(f"refusing to publish: negative balance of user(s) {negative[:10]}; run `flask ledger "
                               f"verify`")
    if not owed:
        raise ValidationFailed("no user holds dollars or an account yet: nothing to publish")
    order = list(owed)
    secrets.SystemRandom().shuffle(order)  # a position (and a neighbour) says nothing about who a leaf is
    leaves = [merkle.Leaf(secrets.token_bytes(merkle.SALT_BYTES), user_id, owed[user_id])
              for user_id in order]
    top = merkle.root(leaves)
    stamp = _stamp(taken_at)
    signed = signing.message(taken_at=stamp, root_hash=top.hash.hex(), total=top.sum,
                                      leaf_count=len(leaves), room_balance=room_balance, published_by=actor.id)
    snapshot = ReserveSnapshot(
        taken_at=taken_at, taken_at_text=stamp, root_hash=top.hash.hex(), total_liabilities=top.sum,
        leaf_count=len(leaves), room_balance=room_balance, room_balance_source=room_balance_source,
        published_by_id=actor.id, signature=signing.sign(config, signed), public_key=key_public,
    )
    db.session.add(snapshot)
    db.session.flush()
    db.session.execute(sa.insert(ReserveLeaf), [
        {"snapshot_id": snapshot.id, "user_id": leaf.user_id, "position": position, "salt": leaf.salt.hex(),
         "balance": leaf.balance}
        for position, leaf in enumerate(leaves)
    ])
    audit.record("reserves.published", actor=actor, target=snapshot, root_hash=snapshot.root_hash,
                 total_liabilities=snapshot.total_liabilities, room_balance=room_balance,
                 room_balance_source=room_balance_source, leaf_count=snapshot.leaf_count)
    return snapshot


def signed_message_of(snapshot: ReserveSnapshot) -> bytes:
    return signing.message(
        taken_at=snapshot.taken_at_text, root_hash=snapshot.root_hash, total=snapshot.total_liabilities,
        leaf_count=snapshot.leaf_count, room_balance=snapshot.room_balance, published_by=snapshot.published_by_id)


def signature_verifies(snapshot: ReserveSnapshot) -> bool:
    return signing.verifies(snapshot.public_key, signed_message_of(snapshot), snapshot.signature)


def latest() -> ReserveSnapshot | None:
    return db.session.scalar(sa.select(ReserveSnapshot).order_by(ReserveSnapshot.id.desc()).limit(1))


def history(limit: int = HISTORY_SIZE) -> list[ReserveSnapshot]:
    """The latest ``limit`` snapshots, oldest first (the chart's order)."""
    newest = db.session.scalars(sa.select(ReserveSnapshot).order_by(ReserveSnapshot.id.desc()).limit(limit)).all()
    return newest[::-1]


def leaves_of(user_id: int, limit: int = HISTORY_SIZE) -> list[tuple[ReserveLeaf, ReserveSnapshot]]:
    """The user's leaves in the latest snapshots, newest first: what their proof page lists."""
    rows = db.session.execute(
        sa.select(ReserveLeaf, ReserveSnapshot).join(ReserveSnapshot, ReserveLeaf.snapshot_id == ReserveSnapshot.id)
        .where(ReserveLeaf.user_id == user_id).order_by(ReserveSnapshot.id.desc()).limit(limit)
    )
    return [(leaf, snapshot) for leaf, snapshot in rows]


def proof(user_id: int, leaf_id: int) -> dict:
    """The inclusion proof of the user's leaf ``leaf_id``; another user's leaf is :class:`NotFound`."""
    leaf = db.session.get(ReserveLeaf, leaf_id)
    if leaf is None or leaf.user_id != user_id:
        raise NotFound()
    snapshot = db.session.get(ReserveSnapshot, leaf.snapshot_id)
    rows = db.session.execute(
        sa.select(ReserveLeaf.salt, ReserveLeaf.user_id, ReserveLeaf.balance)
        .where(ReserveLeaf.snapshot_id == snapshot.id).order_by(ReserveLeaf.position)
    ).all()
    built = merkle.levels([merkle.Leaf(bytes.fromhex(salt), uid, bal) for salt, uid, bal in rows])
    top = built[-1][0]
    if top.hash.hex() != snapshot.root_hash or top.sum != snapshot.total_liabilities:
        # The stored leaves no longer give the published root: never hand out a proof of something else.
        raise RuntimeError(f"reserve snapshot {snapshot.id}: stored leaves do not rebuild the published root")
    steps = merkle.path(built, leaf.position)
    return {
        "format": FORMAT,
        "snapshot": {
            "id": snapshot.id, "taken_at": snapshot.taken_at_text, "leaf_count": snapshot.leaf_count,
            "room_balance": snapshot.room_balance, "published_by": snapshot.published_by_id,
            "signature": snapshot.signature, "public_key": snapshot.public_key,
        },
        "leaf": {"index": leaf.position, "salt": leaf.salt, "user_id": leaf.user_id, "balance": leaf.balance},
        "path": [{"side": s.side, "hash": s.hash.hex(), "sum": s.sum} for s in steps],
        "root": {"hash": snapshot.root_hash, "sum": snapshot.total_liabilities},
    }
