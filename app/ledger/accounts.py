"""Finding and creating ledger accounts by their code.

An account is named by a unique ``code`` (``platform:room_omnibus:USD``,
``user:42:wallet:USD``, ``withdrawal:17:escrow:USD``), so get-or-create is
race-safe on both engines: ``INSERT … ON CONFLICT (code) DO NOTHING`` then
``SELECT``.  Two workers creating the same wallet at once both end up with the
one row.  Platform accounts are created on first use, not by a migration, so an
emptied database (tests, a fresh install) needs no seeding.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.database import utcnow
from app.extensions import db
from app.ledger.errors import AccountNotFound
from app.ledger.models import ASSETS, DEFAULT_ASSET, AccountKind, LedgerAccount


def wallet_code(user_id: int, asset: str = DEFAULT_ASSET) -> str:
    return f"user:{int(user_id)}:wallet:{asset}"


def escrow_code(withdrawal_id: int, asset: str = DEFAULT_ASSET) -> str:
    return f"withdrawal:{int(withdrawal_id)}:escrow:{asset}"


def platform_code(kind: AccountKind | str, asset: str = DEFAULT_ASSET) -> str:
    return f"platform:{AccountKind(kind).value}:{asset}"


def by_code(code: str) -> LedgerAccount | None:
    return db.session.scalar(sa.select(LedgerAccount).where(LedgerAccount.code == code))


def get_or_create(code: str, kind: AccountKind | str, *, asset: str = DEFAULT_ASSET,
                  owner_id: int | None = None) -> LedgerAccount:
    """The account named ``code``, created with the flags of ``kind`` if it does not exist yet."""
    kind = AccountKind(kind)
    if asset not in ASSETS:
        raise ValueError(f"unknown asset {asset!r}")
    account = by_code(code)
    if account is None:
        rules = kind.rules
        table = LedgerAccount.__table__
        if db.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        db.session.execute(insert(table).values(
            code=code, kind=kind.value, asset=asset, owner_id=owner_id,
            debits_must_not_exceed_credits=rules.debits_must_not_exceed_credits,
            credits_must_not_exceed_debits=rules.credits_must_not_exceed_debits,
            debits_posted=0, credits_posted=0, debits_pending=0, credits_pending=0, version=0,
            created_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["code"]))
        account = by_code(code)
    if account.kind != kind.value or account.asset != asset or account.owner_id != owner_id:
        raise ValueError(f"ledger account {code} exists with another kind, asset or owner")
    return account


def wallet_of(user_id: int, asset: str = DEFAULT_ASSET) -> LedgerAccount:
    """A user's wallet (credit-normal, cannot be overdrawn)."""
    return get_or_create(wallet_code(user_id, asset), AccountKind.WALLET, asset=asset, owner_id=user_id)


def escrow_of(withdrawal_id: int, owner_id: int, asset: str = DEFAULT_ASSET) -> LedgerAccount:
    """The escrow of one withdrawal request, owned by its seller (credit-normal, cannot be overdrawn)."""
    return get_or_create(escrow_code(withdrawal_id, asset), AccountKind.ESCROW, asset=asset, owner_id=owner_id)


def platform_account(kind: AccountKind | str, asset: str = DEFAULT_ASSET) -> LedgerAccount:
    """One of the platform's own accounts (room omnibus, fee revenue, …), created on first use."""
    kind = AccountKind(kind)
    if not kind.is_platform:
        raise ValueError(f"{kind.value} is not a platform account kind")
    return get_or_create(platform_code(kind, asset), kind, asset=asset)


def get_account(account: LedgerAccount | int) -> LedgerAccount:
    """The account object for an account or an id; AccountNotFound if there is none."""
    if isinstance(account, LedgerAccount):
        return account
    found = db.session.get(LedgerAccount, account_id(account))
    if found is None:
        raise AccountNotFound(account_id=account)
    return found


def account_id(account: LedgerAccount | int) -> int:
    """The id of an account given as an object or an id."""
    if isinstance(account, LedgerAccount):
        if account.id is None:
            raise ValueError("ledger account has no id yet; flush it first")
        return account.id
    if isinstance(account, bool) or not isinstance(account, int):
        raise TypeError(f"expected a LedgerAccount or an account id, got {type(account).__name__}")
    return account
