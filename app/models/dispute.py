"""A dispute's case file: the seller's deadline, one conversation thread, and the evidence in it.

The deposit's own status (``disputed → settled | rejected``, :data:`app.states.DEPOSIT`)
stays the dispute's outcome; the case adds what happens while it is open:

- ``dispute_case``: one per disputed deposit (``deposit_id`` UNIQUE: a dispute opened
  twice by a race or a replay has one case).  Its status is the seller's part
  (:data:`app.states.DISPUTE_CASE`): ``awaiting_seller → answered`` when the seller
  writes in time, ``awaiting_seller → escalated`` when the sweeper finds the deadline
  passed (a compare-and-set, so it happens once however many sweepers run).
- ``dispute_message``: the thread, buyer, seller and ops alike; ``request_key`` is UNIQUE
  so a double-submitted form posts once.
- ``dispute_file``: a message's attachment.  The bytes live outside ``static/`` under a
  random ``token`` (never the uploader's file name); the row keeps the type read from
  the content, the size and the SHA-256 of what was stored.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db

CASE_STATES = ("awaiting_seller", "answered", "escalated")
AUTHOR_ROLES = ("buyer", "seller", "ops")
#: the types a receipt may have, as read from its first bytes (app.market.dispute_files)
FILE_TYPES = ("image/png", "image/jpeg", "application/pdf")
MESSAGE_MAX = 2000


def _quoted(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


class DisputeCase(db.Model):
    __tablename__ = "dispute_case"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_quoted(CASE_STATES)})", name="status_known"),
        sa.CheckConstraint("(status = 'answered') = (answered_at IS NOT NULL)", name="answered_consistent"),
        sa.CheckConstraint("(status = 'escalated') = (escalated_at IS NOT NULL)", name="escalated_consistent"),
        # The escalation sweeper's scan: cases still waiting for the seller, by deadline.
        sa.Index("ix_dispute_case_waiting", "answer_due_at",
                 sqlite_where=sa.text("status = 'awaiting_seller'"),
                 postgresql_where=sa.text("status = 'awaiting_seller'")),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    deposit_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("deposit.id"), unique=True)
    #: the two parties, copied from the deposit when the case opened: the access check is one row
    buyer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    seller_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="awaiting_seller")
    #: the seller answers before this (the ops setting ``dispute_answer_seconds`` after opening)
    answer_due_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    answered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    escalated_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DisputeMessage(db.Model):
    __tablename__ = "dispute_message"
    __table_args__ = (
        sa.CheckConstraint(f"author_role IN ({_quoted(AUTHOR_ROLES)})", name="author_role_known"),
        sa.CheckConstraint(f"length(body) <= {MESSAGE_MAX}", name="body_length"),
        sa.Index("ix_dispute_message_thread", "case_id", "id"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    case_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("dispute_case.id"))
    author_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    author_role: so.Mapped[str] = so.mapped_column(sa.String(8))
    #: the text as written ("" when the message is only a file)
    body: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    #: from the form: a double submit posts one message
    request_key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class DisputeFile(db.Model):
    __tablename__ = "dispute_file"
    __table_args__ = (
        sa.CheckConstraint(f"content_type IN ({_quoted(FILE_TYPES)})", name="content_type_known"),
        sa.CheckConstraint("size_bytes > 0", name="size_positive"),
        sa.CheckConstraint("length(sha256) = 64", name="sha256_length"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    #: one file per message
    message_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("dispute_message.id"), unique=True)
    #: the stored file's name and its id in download URLs: 32 random hex digits
    token: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    content_type: so.Mapped[str] = so.mapped_column(sa.String(32))
    size_bytes: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    sha256: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
