"""Reading the ledger for ops: accounts with their balances, and transfers, filtered and paginated."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.core.paging import PAGE_SIZE, Page, contains_pattern
from app.extensions import db
from app.ledger.models import KIND_RULES, AccountKind, LedgerAccount, LedgerTransfer
from app.models.user import User


@dataclass(frozen=True)
class AccountRow:
    account: LedgerAccount
    owner_email: str | None

    @property
    def posted(self) -> int:
        a = self.account
        if KIND_RULES[AccountKind(a.kind)].normal == "credit":
            return a.credits_posted - a.debits_posted
        return a.debits_posted - a.credits_posted

    @property
    def pending_out(self) -> int:
        a = self.account
        return a.debits_pending if KIND_RULES[AccountKind(a.kind)].normal == "credit" else a.credits_pending

    @property
    def pending_in(self) -> int:
        a = self.account
        return a.credits_pending if KIND_RULES[AccountKind(a.kind)].normal == "credit" else a.debits_pending

    @property
    def available(self) -> int:
        return self.posted - self.pending_out


def _owner_condition(owner: str):
    owner = owner.strip()
    if owner.isdigit() and len(owner) <= 18:  # an id (BIGINT); longer digit strings match no one
        return LedgerAccount.owner_id == int(owner)
    return User.email.like(contains_pattern(owner.lower()), escape="\\")


def accounts(*, owner: str | None = None, kind: str | None = None, code: str | None = None,
             page: int = 1, per_page: int = PAGE_SIZE) -> Page:
    query = sa.select(LedgerAccount, User.email).outerjoin(User, User.id == LedgerAccount.owner_id)
    if owner:
        query = query.where(_owner_condition(owner))
    if kind:
        query = query.where(LedgerAccount.kind == kind)
    if code:
        query = query.where(LedgerAccount.code.like(contains_pattern(code.strip()), escape="\\"))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    rows = db.session.execute(query.order_by(LedgerAccount.id).limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=[AccountRow(a, email) for a, email in rows], total=total, page=page, per_page=per_page)


def account(account_id: int) -> AccountRow | None:
    row = db.session.execute(
        sa.select(LedgerAccount, User.email).outerjoin(User, User.id == LedgerAccount.owner_id)
        .where(LedgerAccount.id == account_id)
    ).one_or_none()
    return AccountRow(row[0], row[1]) if row else None


def transfers(*, account_id: int | None = None, kind: str | None = None, text: str | None = None,
              min_amount: int | None = None, max_amount: int | None = None,
              page: int = 1, per_page: int = PAGE_SIZE) -> Page:
    """Transfers, newest first; ``text`` matches the key, the event or the memo."""
    t = LedgerTransfer
    query = sa.select(t)
    if account_id is not None:
        query = query.where(sa.or_(t.debit_account_id == account_id, t.credit_account_id == account_id))
    if kind:
        query = query.where(t.kind == kind)
    if text:
        pattern = contains_pattern(text.strip())
        query = query.where(sa.or_(t.key.like(pattern, escape="\\"), t.event.like(pattern, escape="\\"),
                                   t.memo.like(pattern, escape="\\")))
    if min_amount is not None:
        query = query.where(t.amount >= min_amount)
    if max_amount is not None:
        query = query.where(t.amount <= max_amount)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    items = list(db.session.scalars(query.order_by(t.id.desc()).limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, total=total, page=page, per_page=per_page)


def account_codes(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(LedgerAccount.id, LedgerAccount.code)
                                   .where(LedgerAccount.id.in_(sorted(ids)))).all())
