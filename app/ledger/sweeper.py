"""The backstop for holds nobody resolved: void pending transfers past their ``timeout_at``.

The invoice and cash-out flows void their own holds; this sweeper catches the
ones a lost job or a crash left open.  Each expired hold is voided (status
``expired``) and committed on its own, with the key ``ledger:expire:<id>``, so
a hold resolved meanwhile by its flow is skipped (``AlreadyResolved``), a
rerun after a crash repeats nothing, and the sweeper never holds more than two
account locks at a time.
"""
from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from app.database import utcnow
from app.extensions import db
from app.ledger.errors import AlreadyResolved, PendingNotFound
from app.ledger.models import LedgerTransfer, Phase, Status
from app.ledger.postings import expire_pending

log = logging.getLogger(__name__)


def expired_hold_ids(now: datetime, limit: int) -> list[int]:
    return list(db.session.scalars(
        sa.select(LedgerTransfer.id)
        .where(LedgerTransfer.status == Status.PENDING.value, LedgerTransfer.phase == Phase.PENDING.value,
               LedgerTransfer.timeout_at <= now)
        .order_by(LedgerTransfer.timeout_at, LedgerTransfer.id)
        .limit(limit)
    ))


def void_expired_holds(now: datetime | None = None, limit: int = 500) -> int:
    """Void up to ``limit`` holds whose timeout passed; commits each.  Returns how many it voided.

    Call it from a job, with nothing pending in the session: it begins by rolling back.
    """
    now = now or utcnow()
    # A job owns its session: start from a clean transaction (nothing of a caller's half-done work
    # is swept or committed), and end the read so each void below is its own short transaction.
    db.session.rollback()
    ids = expired_hold_ids(now, limit)
    db.session.rollback()
    voided = 0
    for pending_id in ids:
        try:
            expire_pending(f"ledger:expire:{pending_id}", pending_id)
            db.session.commit()
            voided += 1
        except (AlreadyResolved, PendingNotFound):
            db.session.rollback()
        except OperationalError:  # a lock timeout or deadlock victim: the next sweep retries it
            db.session.rollback()
            log.warning("could not void expired hold %s this time", pending_id, exc_info=True)
    if voided:
        log.info("voided %d expired holds", voided)
    return voided
