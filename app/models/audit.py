"""The append-only audit log: security events and every ops action.

Rows are only ever inserted; database triggers refuse UPDATE and DELETE on both
engines (see the migration), so even a bug or a raw SQL session cannot rewrite
history.  ``details`` must never contain a secret; :mod:`app.core.audit`
scrubs known secret keys before writing.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_target", "target_type", "target_id"),)

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    #: who did it; null for anonymous events (a failed login with an unknown email)
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    #: dotted verb such as ``auth.login`` or ``admin.user.freeze``
    action: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    target_type: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    target_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    #: the reason the person gave, where the form asked for one
    reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    ip: so.Mapped[str | None] = so.mapped_column(sa.String(45))
    details: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
