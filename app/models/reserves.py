"""Proof-of-reserves snapshots and their leaves: what was published, immutable once written.

A snapshot is the root of a Merkle sum tree over every user's liabilities, the total, the
platform's room balance read at the same moment, who published it and the platform's signature
(``app.reserves.snapshots``; the hashing is ``app.reserves.merkle``).  Its leaves keep each
user's salted balance so that the user's inclusion proof can be rebuilt at any time.  Migration
``0019_proof_of_reserves`` makes both tables append-only (UPDATE and DELETE raise) and backs every
check below with a constraint.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime
from app.extensions import db

#: where the room balance came from: read through the room connector, or typed by the ops member
ROOM_BALANCE_SOURCES = ("room_api", "entered_by_ops")


class ReserveSnapshot(db.Model):
    __tablename__ = "reserve_snapshot"
    __table_args__ = (
        sa.CheckConstraint("total_liabilities >= 0", name="total_nonneg"),
        sa.CheckConstraint("room_balance >= 0", name="room_balance_nonneg"),
        sa.CheckConstraint("leaf_count >= 1", name="has_leaves"),
        sa.CheckConstraint("length(root_hash) = 64", name="root_hash_is_sha256"),
        sa.CheckConstraint("length(signature) = 128", name="signature_is_ed25519"),
        sa.CheckConstraint("length(public_key) = 64", name="public_key_is_ed25519"),
        sa.CheckConstraint("room_balance_source IN ('room_api', 'entered_by_ops')", name="room_balance_source_known"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    #: the moment the balances were read; also the signed ``taken_at`` text (ISO 8601, UTC, microseconds)
    taken_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, index=True)
    #: the exact text that was signed for ``taken_at``, so verification never depends on formatting
    taken_at_text: so.Mapped[str] = so.mapped_column(sa.String(40))
    root_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    #: the root's sum: every user's available + reserved dollars, in cents
    total_liabilities: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    leaf_count: so.Mapped[int] = so.mapped_column(sa.Integer)
    #: the platform's balance on its room account, in cents
    room_balance: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    room_balance_source: so.Mapped[str] = so.mapped_column(sa.String(16))
    published_by_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    #: Ed25519 over app.reserves.signing.message(...), hex
    signature: so.Mapped[str] = so.mapped_column(sa.String(128))
    public_key: so.Mapped[str] = so.mapped_column(sa.String(64))

    @property
    def shortfall(self) -> int:
        """How many cents of liabilities the room balance does not cover (0 when covered)."""
        return max(self.total_liabilities - self.room_balance, 0)

    @property
    def covered(self) -> bool:
        return self.room_balance >= self.total_liabilities


class ReserveLeaf(db.Model):
    __tablename__ = "reserve_leaf"
    __table_args__ = (
        sa.UniqueConstraint("snapshot_id", "user_id", name="uq_reserve_leaf_snapshot_user"),
        sa.UniqueConstraint("snapshot_id", "position", name="uq_reserve_leaf_snapshot_position"),
        sa.CheckConstraint("balance >= 0", name="balance_nonneg"),
        sa.CheckConstraint("position >= 0", name="position_nonneg"),
        sa.CheckConstraint("length(salt) = 64", name="salt_is_32_bytes"),
        sa.Index("ix_reserve_leaf_user_id", "user_id"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    snapshot_id: so.Mapped[int] = so.mapped_column(BigIntPK, sa.ForeignKey("reserve_snapshot.id"))
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    #: the leaf's place in the tree (a random order, so a neighbour's balance says nothing about who it is)
    position: so.Mapped[int] = so.mapped_column(sa.Integer)
    #: 32 random bytes, hex, fresh for each user in each snapshot: the leaf hash reveals nothing by itself
    salt: so.Mapped[str] = so.mapped_column(sa.String(64))
    #: available + reserved dollars of the user at the snapshot, in cents
    balance: so.Mapped[int] = so.mapped_column(sa.BigInteger)
