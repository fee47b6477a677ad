"""Ops' work on user accounts: search, the full picture of one user, KYC, freeze, 2FA reset.

Every change is audited with the actor, the reason the form asked for and the
before/after values.  Object-level rules: nobody changes their own account
here, and only an admin may act on a staff (ops/admin) account.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core import audit
from app.database import utcnow
from app.errors import NotFound, NotPermitted, ValidationFailed
from app.extensions import db
from app.ledger.models import KIND_RULES, AccountKind, LedgerAccount
from app.models import AuditEvent, User
from app.models.limits import UserLimit
from app.models.market import Deposit, WithdrawalRequest
from app.models.payment_form import PaymentForm
from app.models.room import CashOut, RoomAccount
from app.models.user import new_session_token
from app.people import accounts

SEARCH_LIMIT = 50
LIST_LIMIT = 50
KYC_DECISIONS = ("verified", "rejected")


def search(query: str = "", *, kyc: str | None = None, frozen: bool | None = None) -> list[User]:
    """Users whose e-mail or room account contains ``query`` (or whose id it is), newest first, bounded."""
    stmt = sa.select(User)
    query = (query or "").strip().lower()
    if query:
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # identifiers keep the room's spelling (nicknames are case-sensitive there); ops search ignores case
        by_room_account = sa.select(RoomAccount.user_id).where(
            sa.func.lower(RoomAccount.identifier).like(like, escape="\\"))
        condition = sa.or_(User.email.like(like, escape="\\"), User.id.in_(by_room_account))
        if query.lstrip("#").isdigit():
            condition = sa.or_(condition, User.id == int(query.lstrip("#")))
        stmt = stmt.where(condition)
    if kyc:
        stmt = stmt.where(User.kyc_status == kyc)
    if frozen is not None:
        stmt = stmt.where(User.is_frozen.is_(frozen))
    return list(db.session.scalars(stmt.order_by(User.id.desc()).limit(SEARCH_LIMIT)))


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(str(_l("No such user.")))
    return user


@dataclass(frozen=True)
class AccountBalance:
    account: LedgerAccount
    posted: int
    pending_debits: int
    pending_credits: int
    available: int


@dataclass(frozen=True)
class UserOverview:
    user: User
    room_accounts: list[RoomAccount]
    api_forms: list[PaymentForm]
    withdrawals: list[WithdrawalRequest]
    deposits: list[Deposit]
    #: invoices buyers were given against this user's withdrawal requests
    sales: list[Deposit]
    cash_outs: list[CashOut]
    ledger_accounts: list[AccountBalance]
    audit_trail: list[AuditEvent]
    #: e-mails of the people in the audit trail, by id
    actors: dict[int, str]
    limits: UserLimit | None


def _balance(account: LedgerAccount) -> AccountBalance:
    if KIND_RULES[AccountKind(account.kind)].normal == "credit":
        posted = account.credits_posted - account.debits_posted
        available = posted - account.debits_pending
    else:
        posted = account.debits_posted - account.credits_posted
        available = posted - account.credits_pending
    return AccountBalance(account, posted, account.debits_pending, account.credits_pending, available)


def overview(user_id: int) -> UserOverview:
    """Everything ops need about one user, in a fixed number of queries, each list bounded.

    API forms carry only their masked ``display``; credentials are never loaded into the page.
    """
    user = get_user(user_id)

    def newest(model, *where, order=None):
        return list(db.session.scalars(
            sa.select(model).where(*where).order_by(order if order is not None else model.id.desc()).limit(LIST_LIMIT)))

    ledger_accounts = newest(LedgerAccount, LedgerAccount.owner_id == user.id, order=LedgerAccount.id)
    trail = newest(AuditEvent, sa.or_(
        AuditEvent.actor_id == user.id,
        sa.and_(AuditEvent.target_type == "user", AuditEvent.target_id == str(user.id))))
    actor_ids = {e.actor_id for e in trail if e.actor_id is not None}
    actors = dict(db.session.execute(sa.select(User.id, User.email).where(User.id.in_(actor_ids))).all()) \
        if actor_ids else {}
    return UserOverview(
        user=user, actors=actors,
        room_accounts=newest(RoomAccount, RoomAccount.user_id == user.id),
        api_forms=newest(PaymentForm, PaymentForm.user_id == user.id),
        withdrawals=newest(WithdrawalRequest, WithdrawalRequest.seller_id == user.id),
        deposits=newest(Deposit, Deposit.buyer_id == user.id),
        sales=list(db.session.scalars(
            sa.select(Deposit).join(WithdrawalRequest, WithdrawalRequest.id == Deposit.withdrawal_id)
            .where(WithdrawalRequest.seller_id == user.id).order_by(Deposit.id.desc()).limit(LIST_LIMIT))),
        cash_outs=newest(CashOut, CashOut.user_id == user.id),
        ledger_accounts=[_balance(a) for a in ledger_accounts],
        audit_trail=trail,
        limits=db.session.get(UserLimit, user.id),
    )


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(str(_l("A reason is required.")))
    return reason


def check_may_manage(actor: User, user: User) -> None:
    """Nobody manages their own account here; only an admin manages a staff account."""
    if actor.id == user.id:
        raise NotPermitted(str(_l("You cannot change your own account here; ask another member of the team.")))
    if user.is_staff and not actor.is_admin:
        raise NotPermitted(str(_l("Only an admin can change a staff account.")))


def review_kyc(user_id: int, decision: str, *, actor: User, note: str) -> User:
    """Verify or reject a user's KYC; the note is kept on the user and in the audit log."""
    if decision not in KYC_DECISIONS:
        raise ValidationFailed(str(_l("Choose verify or reject.")))
    note = _require_reason(note)
    user = get_user(user_id)
    check_may_manage(actor, user)
    old = user.kyc_status
    user.kyc_status = decision
    user.kyc_note = note
    user.kyc_reviewed_at = utcnow()
    db.session.flush()
    audit.record(f"admin.user.kyc_{decision}", actor=actor, target=user, reason=note, old=old, new=decision)
    return user


def set_frozen(user_id: int, frozen: bool, *, actor: User, reason: str) -> User:
    """Freeze (matching skips the user's requests; no cash-outs or new withdrawals) or unfreeze.

    Freezing also ends every session the user has (a new session token): the next request of any of
    them, the invoice page's poll included, is signed out.  A frozen user who signs in again sees their
    own pages but cannot trade."""
    reason = _require_reason(reason)
    user = get_user(user_id)
    check_may_manage(actor, user)
    if user.is_frozen == frozen:
        raise ValidationFailed(str(_l("The account is already frozen.") if frozen else _l("The account is not frozen.")))
    # A compare-and-set, so two ops clicking at once make one change and one audit entry.
    changed = db.session.execute(
        sa.update(User).where(User.id == user.id, User.is_frozen.is_(not frozen))
        .values(is_frozen=frozen, **({"session_token": new_session_token()} if frozen else {}))
    ).rowcount
    db.session.expire(user, ["is_frozen", "session_token"])
    if changed != 1:
        raise ValidationFailed(str(_l("The account is already frozen.") if frozen else _l("The account is not frozen.")))
    audit.record("admin.user.freeze" if frozen else "admin.user.unfreeze", actor=actor, target=user, reason=reason)
    return user


def set_limits(user_id: int, *, actor: User, reason: str, deposit_daily_kopecks: int | None,
               cashout_daily_cents: int | None):
    """Set a user's own daily limits (see :mod:`app.people.user_limits`), under the same rules as every action."""
    from app.people import user_limits

    user = get_user(user_id)
    check_may_manage(actor, user)
    return user_limits.set_limits(user, actor=actor, reason=reason, deposit_daily_kopecks=deposit_daily_kopecks,
                                  cashout_daily_cents=cashout_daily_cents)


def reset_two_factor(user_id: int, *, actor: User, reason: str) -> User:
    """Turn off a user's 2FA (they lost the phone) and end their sessions; they enrol again at sign-in."""
    reason = _require_reason(reason)
    user = get_user(user_id)
    check_may_manage(actor, user)
    if not user.totp_enabled and not user.totp_secret_encrypted:
        raise ValidationFailed(str(_l("Two-factor authentication is not on for this user.")))
    accounts.disable_totp(user, actor=actor, reason=reason)
    return user
