"""Users' room accounts and the proof that they own them.

Identifiers (docs/room-contract.md): an e-mail is matched case-insensitively,
a nickname or player id exactly as the room shows it -- the room may treat
``Name`` and ``name`` as two accounts, so nothing is credited from, or sent
to, an identifier that only matches after changing its case.  What is stored
and sent is the room's own spelling; what is matched is :func:`match_key`.

Ownership is proved by sending a small amount from the account to the
platform's room account: only its owner can do that.  The amount is drawn per
room account, so the pool never runs out as users multiply: several users may
each await verification of the same room account (a squatter cannot lock its
owner out), no two of them with the same amount (a unique index), and the one
whose amount arrives from that account gets it.  A pending verification
expires, a user may have only a few at once, and the view is rate-limited.
"""
from __future__ import annotations

import re
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.connectors.room.base import account_key
from app.core import audit, user_lock
from app.database import utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models.room import CashOut, RoomAccount

#: verification amounts are drawn from $1.01 … $9.99, separately for each room account
VERIFICATION_RANGE = (101, 999)
#: how long a pending verification waits for its transfer
PENDING_TTL = timedelta(hours=24)
#: room accounts one user may have awaiting verification at once
MAX_PENDING_PER_USER = 3
_IDENTIFIER_RE = re.compile(r"^[\w.+@-]{3,254}$", re.UNICODE)

class AlreadyAdded(ValidationFailed):
    """The user has this room account already (the view says so; nothing changes)."""

    def __init__(self, account: RoomAccount) -> None:
        super().__init__(str(_l("You have already added this room account.")))
        self.account = account


def room_spelling(raw: str) -> str:
    """The identifier as the room shows it: only surrounding blanks are dropped, the letter case is kept."""
    return (raw or "").strip()


def match_key(identifier: str) -> str:
    """What two spellings must share to be the same room account: e-mails ignore case, the rest is exact.

    The rule lives with the connector (:func:`app.connectors.room.base.account_key`), which checks the
    room's answers by it too.
    """
    return account_key(identifier)


def find_verified(identifier: str) -> RoomAccount | None:
    """The verified room account a transfer from ``identifier`` (as the room shows it) belongs to."""
    return db.session.scalar(sa.select(RoomAccount).where(
        RoomAccount.identifier_key == match_key(identifier), RoomAccount.status == "verified"))


def find_by_identifier(identifier: str) -> RoomAccount | None:
    """The verified account of ``identifier``, else its only live registration (ops looking a user up)."""
    verified = find_verified(identifier)
    if verified is not None:
        return verified
    pending = list(db.session.scalars(sa.select(RoomAccount).where(
        RoomAccount.identifier_key == match_key(identifier), RoomAccount.status == "pending",
        RoomAccount.verification_expires_at > utcnow()).limit(2)))
    return pending[0] if len(pending) == 1 else None


def pending_for(identifier: str, amount: int) -> RoomAccount | None:
    """The live registration that a transfer of ``amount`` from ``identifier`` verifies, if any."""
    return db.session.scalar(sa.select(RoomAccount).where(
        RoomAccount.identifier_key == match_key(identifier), RoomAccount.status == "pending",
        RoomAccount.verification_amount == amount, RoomAccount.verification_expires_at > utcnow()))


def accounts_of(user_id: int) -> list[RoomAccount]:
    return list(db.session.scalars(sa.select(RoomAccount).where(RoomAccount.user_id == user_id).order_by(RoomAccount.id)))


def get_own(user, room_account_id: int) -> RoomAccount:
    """The user's own room account, else NotFound (another user's looks like a missing one)."""
    account = db.session.get(RoomAccount, room_account_id)
    if account is None or account.user_id != user.id:
        raise NotFound(str(_l("No such room account.")))
    return account


def _deletable():
    """Only registrations no cash-out refers to are deleted (one sent back to verification by the
    0013 migration may have cash-outs from before; it stays, awaiting verification or expired)."""
    return ~sa.exists().where(CashOut.room_account_id == RoomAccount.id)


def _cannot_be_added() -> ValidationFailed:
    # Says nothing about whose it is: that would tell a stranger which room account a user has.
    return ValidationFailed(str(_l("This room account cannot be added. Check the spelling, or write to support.")))


def add_room_account(user, raw_identifier: str) -> RoomAccount:
    """Register a room account for ``user`` with a fresh verification amount (caller commits).

    Raises :class:`AlreadyAdded` when the user has it already (an expired one is
    renewed instead), and ValidationFailed when it is malformed, verified by
    someone else, or the user already waits for :data:`MAX_PENDING_PER_USER`.
    """
    spelling = room_spelling(raw_identifier)
    if not _IDENTIFIER_RE.match(spelling):
        raise ValidationFailed(str(_l("Enter the e-mail, nickname or player id exactly as the room shows it.")))
    key = match_key(spelling)
    user_lock.lock_owner(user.id)  # one user's additions one after the other: the pending cap holds
    now = utcnow()
    own = db.session.scalar(sa.select(RoomAccount).where(RoomAccount.user_id == user.id,
                                                         RoomAccount.identifier_key == key))
    if own is not None and not own.is_expired(now):
        raise AlreadyAdded(own)
    taken = db.session.scalar(sa.select(RoomAccount.user_id).where(RoomAccount.identifier_key == key,
                                                                   RoomAccount.status == "verified"))
    if taken is not None:
        raise _cannot_be_added()
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(RoomAccount).where(
        RoomAccount.user_id == user.id, RoomAccount.status == "pending", RoomAccount.verification_expires_at > now))
    if waiting >= MAX_PENDING_PER_USER:
        raise ValidationFailed(str(_l(
            "You already have %(count)d room accounts awaiting verification. Verify or remove one first.",
            count=MAX_PENDING_PER_USER)))
    low, high = VERIFICATION_RANGE
    for _attempt in range(20):
        amount = secrets.randbelow(high - low + 1) + low
        try:
            with db.session.begin_nested():
                if own is None:
                    account = RoomAccount(user_id=user.id, identifier=spelling, identifier_key=key, status="pending",
                                          verification_amount=amount, verification_expires_at=now + PENDING_TTL)
                    db.session.add(account)
                else:  # renew the expired one: a new amount and a new time limit
                    own.identifier, own.verification_amount = spelling, amount
                    own.verification_expires_at, own.created_at = now + PENDING_TTL, now
                    account = own
                db.session.flush()
        except IntegrityError:
            # The amount is taken by another registration of this room account (draw again),
            # or its owner verified it meanwhile (refuse).
            if own is not None:
                db.session.refresh(own)
            if db.session.scalar(sa.select(RoomAccount.id).where(RoomAccount.identifier_key == key,
                                                                 RoomAccount.status == "verified")):
                raise _cannot_be_added() from None
            continue
        audit.record("room_account.added", actor=user, target=account, identifier=spelling,
                     renewed=own is not None)
        return account
    raise ValidationFailed(str(_l("Too many accounts await verification right now; try again in a few minutes.")))


def remove_pending(user, room_account_id: int) -> str:
    """Remove the user's own room account that is still awaiting verification; returns its spelling.

    A verified one stays: deposits from it keep being credited and cash-outs
    refer to it; only ops unlink it (on request through support).
    """
    account = get_own(user, room_account_id)
    if account.is_verified:
        raise ValidationFailed(str(_l(
            "A verified room account stays linked: deposits from it keep being credited to you. "
            "To unlink it, write to support.")))
    spelling = account.identifier
    if db.session.scalar(sa.select(CashOut.id).where(CashOut.room_account_id == account.id).limit(1)):
        raise ValidationFailed(str(_l("Cash-outs were sent to this room account, so it stays listed.")))
    deleted = db.session.execute(sa.delete(RoomAccount).where(RoomAccount.id == account.id,
                                                              RoomAccount.status == "pending")).rowcount
    if deleted != 1:  # verified between the read and the delete
        raise ValidationFailed(str(_l("This room account has just been verified; it stays linked.")))
    audit.record("room_account.removed", actor=user, target_type="room_account", target_id=room_account_id,
                 identifier=spelling)
    return spelling


def mark_verified(account: RoomAccount, *, by: str, actor=None, reason: str | None = None,
                  spelling: str | None = None) -> bool:
    """Verify ``account`` once; True if this call verified it.

    ``spelling`` is the sender as the room showed it; it replaces the typed one
    (they differ at most in the case of an e-mail).  False if the account is no
    longer pending or another user's registration of it is verified already.
    Every other registration of the same room account is then dropped: it can
    never be verified.
    """
    values = {"status": "verified", "verified_by": by, "verified_at": utcnow(), "verification_expires_at": None}
    if spelling:
        values["identifier"] = room_spelling(spelling)[:254]
    try:
        with db.session.begin_nested():
            result = db.session.execute(
                sa.update(RoomAccount).where(RoomAccount.id == account.id, RoomAccount.status == "pending")
                .values(**values)
            )
    except IntegrityError:
        db.session.expire(account)
        return False
    db.session.expire(account)
    if result.rowcount != 1:
        return False
    key = db.session.scalar(sa.select(RoomAccount.identifier_key).where(RoomAccount.id == account.id))
    others = list(db.session.scalars(sa.delete(RoomAccount).where(
        RoomAccount.identifier_key == key, RoomAccount.status == "pending", _deletable()).returning(RoomAccount.id)))
    audit.record("room_account.verified", actor=actor, target=account, reason=reason, method=by,
                 dropped_registrations=len(others))
    return True


def adopt_spelling(account: RoomAccount, spelling: str) -> None:
    """Store the room's spelling of a verified e-mail when a transfer shows it in another case."""
    spelling = room_spelling(spelling)[:254]
    if account.identifier != spelling and match_key(spelling) == account.identifier_key:
        db.session.execute(sa.update(RoomAccount).where(RoomAccount.id == account.id).values(identifier=spelling))
        db.session.expire(account)


def sweep_expired(now=None, limit: int = 1000) -> int:
    """Delete pending verifications past their time (they no longer count or verify); how many."""
    now = now or utcnow()
    ids = list(db.session.scalars(sa.select(RoomAccount.id).where(
        RoomAccount.status == "pending", RoomAccount.verification_expires_at <= now, _deletable()).limit(limit)))
    if not ids:
        return 0
    gone = list(db.session.scalars(sa.delete(RoomAccount).where(
        RoomAccount.id.in_(ids), RoomAccount.status == "pending", RoomAccount.verification_expires_at <= now)
        .returning(RoomAccount.id)))
    audit.record_many("room_account.expired", "room_account", [(i, {}) for i in gone])
    return len(gone)


def verify_by_ops(user_id: int, room_account_id: int, *, spelling: str, actor, reason: str) -> RoomAccount:
    """Ops confirm a user's room account by hand (a player with no dollars to send the amount).

    Ops type the account as the room shows it (seen on the user's PokerOK
    profile); it must be the same room account by the identifier rule, so a
    mistyped registration is not verified for the wrong player.  Audited.
    """
    account = db.session.get(RoomAccount, room_account_id)
    if account is None or account.user_id != user_id:
        raise NotFound(str(_l("No such room account.")))
    if account.is_verified:
        raise ValidationFailed(str(_l("This room account is already verified.")))
    if not (reason or "").strip():
        raise ValidationFailed(str(_l("A reason is required.")))
    if match_key(spelling) != account.identifier_key:
        raise ValidationFailed(str(_l(
            "That is not the account the user added (letter case counts for nicknames). If the user mistyped it, "
            "they remove it and add it as the room shows it.")))
    if not mark_verified(account, by="ops", actor=actor, reason=reason, spelling=spelling):
        raise ValidationFailed(str(_l("This room account is verified for another user already.")))
    return account
