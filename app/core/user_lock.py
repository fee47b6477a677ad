"""The user's row lock: the one lock every per-user rule is decided under.

Cash-outs, withdrawal requests, room-account additions, KYC decisions and Telegram links of one
user are decided one after the other because each takes this lock first.  In the core layer so
that every domain (and notifications, below people) can take the same lock.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models.user import User

_u = User.__table__


def lock_owner(user_id: int) -> sa.Row:
    """Lock the user's row for this transaction and read what the limits need (frozen, KYC) under it.

    Every check of a cash-out or withdrawal request runs after this, so two
    requests of one user are decided one after the other, the second seeing
    what the first wrote (PostgreSQL's READ COMMITTED gives each statement
    after the lock a fresh snapshot).  A repeated form waits here for the
    first one to commit and then finds it by its key.  ``FOR NO KEY UPDATE``:
    rows that merely reference the user (audit events, notifications) are
    still inserted meanwhile.  SQLite: ``BEGIN IMMEDIATE`` already made this
    transaction the only writer, and the SELECT just reads.
    """
    return db.session.execute(
        sa.select(_u.c.id, _u.c.is_frozen, _u.c.kyc_status).where(_u.c.id == user_id).with_for_update(key_share=True)
    ).one()
