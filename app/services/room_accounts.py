"""Users' room accounts and the proof that they own them.

Ownership is proved by sending a small, unique amount from the account to the
platform's room account: only its owner can do that.  While accounts await
verification no two share an amount (a partial unique index backs this), so
one incoming transfer proves exactly one account.
"""
from __future__ import annotations

import re
import secrets

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.database import utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models.room import RoomAccount
from app.services import audit

#: verification amounts are drawn from $1.01 … $9.99
VERIFICATION_RANGE = (101, 999)
_IDENTIFIER_RE = re.compile(r"^[\w.+@-]{3,254}$", re.UNICODE)


def normalise_identifier(raw: str) -> str:
    """The form in which identifiers are stored and matched: trimmed, lower-case."""
    return (raw or "").strip().lower()


def find_by_identifier(identifier: str) -> RoomAccount | None:
    return db.session.scalar(sa.select(RoomAccount).where(RoomAccount.identifier == normalise_identifier(identifier)))


def accounts_of(user_id: int) -> list[RoomAccount]:
    return list(db.session.scalars(sa.select(RoomAccount).where(RoomAccount.user_id == user_id).order_by(RoomAccount.id)))


def get_own(user, room_account_id: int) -> RoomAccount:
    """The user's own room account, else NotFound (another user's looks like a missing one)."""
    account = db.session.get(RoomAccount, room_account_id)
    if account is None or account.user_id != user.id:
        raise NotFound(str(_l("No such room account.")))
    return account


def add_room_account(user, raw_identifier: str) -> RoomAccount:
    identifier = normalise_identifier(raw_identifier)
    if not _IDENTIFIER_RE.match(identifier):
        raise ValidationFailed(str(_l("Enter the e-mail, nickname or player id exactly as the room shows it.")))
    existing = find_by_identifier(identifier)
    if existing is not None:
        if existing.user_id == user.id:
            return existing
        raise ValidationFailed(str(_l("This room account is already registered by another user.")))
    for _attempt in range(20):
        amount = secrets.randbelow(VERIFICATION_RANGE[1] - VERIFICATION_RANGE[0] + 1) + VERIFICATION_RANGE[0]
        account = RoomAccount(user_id=user.id, identifier=identifier, verification_amount=amount, status="pending")
        try:
            with db.session.begin_nested():
                db.session.add(account)
        except IntegrityError:
            # Either the amount is taken by another pending account (draw again) or a
            # concurrent request registered the identifier (report it).
            existing = find_by_identifier(identifier)
            if existing is not None:
                if existing.user_id == user.id:
                    return existing
                raise ValidationFailed(str(_l("This room account is already registered by another user."))) from None
            continue
        audit.record("room_account.added", actor=user, target=account, identifier=identifier)
        return account
    raise ValidationFailed(str(_l("Too many accounts await verification right now; try again in a few minutes.")))


def mark_verified(account: RoomAccount, *, by: str, actor=None, reason: str | None = None) -> bool:
    """Verify ``account`` once; True if this call verified it."""
    result = db.session.execute(
        sa.update(RoomAccount)
        .where(RoomAccount.id == account.id, RoomAccount.status == "pending")
        .values(status="verified", verified_by=by, verified_at=utcnow())
    )
    db.session.expire(account)
    if result.rowcount != 1:
        return False
    audit.record("room_account.verified", actor=actor, target=account, reason=reason, method=by)
    return True
