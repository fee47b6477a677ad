"""The double-entry ledger: every dollar the platform holds, and the only writer of balances.

Design (TigerBeetle's model, in SQL)
====================================

**Accounts** (:class:`LedgerAccount`) are named by a unique ``code``
(``platform:room_omnibus:USD``, ``user:42:wallet:USD``,
``withdrawal:17:escrow:USD``) and have a kind (:class:`AccountKind`, the one
list), an asset (``USD``; ``RUB`` may come later, and every check is per
asset), an optional owner, and two TigerBeetle limit flags:
``debits_must_not_exceed_credits`` on credit-normal accounts that must not be
overdrawn (wallets, escrows, fee revenue, cash-outs in flight, unmatched
incoming) and ``credits_must_not_exceed_debits`` on the debit-normal room
omnibus (the dollars actually on the platform's room account).  Adjustments,
the balancing account for corrections, has neither.  An account caches four
sums — ``debits_posted``, ``credits_posted``, ``debits_pending``,
``credits_pending`` — and a ``version``; a balance is read from them, never
summed on the fly.  Platform accounts are created on first use
(:func:`platform_account`), so an empty database needs no seeding.

**Transfers** (:class:`LedgerTransfer`) are immutable rows that debit one
account and credit another by the same positive amount in one asset, so the
ledger balances by construction.  Each has a unique idempotency ``key``, a
business ``kind`` (:class:`TransferKind`), an optional ``event`` grouping the
transfers of one business event, and a ``phase`` that never changes:

================  ============================================  ==========================
phase             effect on the two accounts                    status
================  ============================================  ==========================
``single``        posted sums += amount                         ``posted``
``pending``       pending sums += amount (a hold)               ``pending`` → ``posted`` |
                                                                ``voided`` | ``expired``
``post_pending``  pending −= hold amount; posted += amount      ``posted``
                  (amount ≤ the hold; the rest is released)
``void_pending``  pending −= hold amount                        ``voided``
================  ============================================  ==========================

A post or void row names its hold in ``pending_id``, which is UNIQUE: a hold
resolves at most once, whatever the Python layer does.  The hold's own row
changes exactly once, ``status`` from ``pending`` to how it was resolved
(``expired`` when the sweeper voided it after ``timeout_at``).

**Posting** (:mod:`app.ledger.postings`): :func:`transfer`, :func:`reserve`,
:func:`post_pending`, :func:`void_pending`, :func:`balance`.  Each call locks
its accounts in id order, settles idempotency (same key and content → the
first row back, balances untouched; same key, other content →
:class:`IdempotencyConflict`), checks limits and raises before writing, then
inserts the transfer and updates the cached sums.  Calls flush, never commit:
a business event's transfers commit together.  :func:`transfer_many` and
:func:`reserve_many` do the same for a batch in a fixed number of round
trips (bulk room ingestion, a matcher reserving for every waiting deposit).
An event touching more than two accounts calls :func:`lock` with all of them
first, so locks are always taken in one global order.

**Guarantees in the database** (migration ``0002_ledger``, both engines):
amount > 0; debit ≠ credit; both accounts of the transfer's asset (composite
foreign keys on ``(account, asset)``); limit flags as CHECK constraints
counting pending debits; non-negative cached sums; unique keys; unique
``pending_id``; a trigger refusing DELETE and every UPDATE except a pending
row's one status change; a trigger refusing a post/void that does not match
its open hold (accounts, asset, amount).  Like django-hordak's database
checks, these are the last line behind the Python checks, not a replacement.

**Checking** (:mod:`app.ledger.verify`, ``flask ledger verify``) recomputes
every cached sum from the transfers and checks conservation per asset,
limits, resolutions and status consistency in a few GROUP BY statements; the
**sweeper** (:func:`void_expired_holds`) voids holds past their timeout.

Errors (:mod:`app.ledger.errors`): :class:`LedgerError` ⊃ InvalidAmount,
SameAccount, AccountNotFound, AssetMismatch, InsufficientFunds,
PendingNotFound, AlreadyResolved, PendingExpired, IdempotencyConflict — all
:class:`app.errors.DomainError`, with translatable messages.
"""
from app.ledger.accounts import escrow_of, get_account, get_or_create, platform_account, wallet_of
from app.ledger.cli import register_cli
from app.ledger.errors import (
    AccountNotFound,
    AlreadyResolved,
    AssetMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    PendingExpired,
    PendingNotFound,
    SameAccount,
)
from app.ledger.models import (
    ASSETS,
    AccountKind,
    LedgerAccount,
    LedgerTransfer,
    Phase,
    Status,
    TransferKind,
)
from app.ledger.postings import (
    Balance,
    Hold,
    OwnedAccount,
    Posting,
    balance,
    balances_of_owner,
    expire_pending,
    lock,
    post_pending,
    reserve,
    reserve_many,
    transfer,
    transfer_many,
    void_pending,
)
from app.ledger.sweeper import void_expired_holds
from app.ledger.verify import VerifyReport, Violation, verify_ledger

__all__ = [
    "ASSETS", "AccountKind", "AccountNotFound", "AlreadyResolved", "AssetMismatch", "Balance",
    "Hold", "IdempotencyConflict", "InsufficientFunds", "InvalidAmount", "LedgerAccount", "LedgerError",
    "LedgerTransfer", "OwnedAccount", "PendingExpired", "PendingNotFound", "Phase", "Posting", "SameAccount", "Status",
    "TransferKind", "VerifyReport", "Violation", "balance", "balances_of_owner", "escrow_of", "expire_pending", "get_account",
    "get_or_create", "lock", "platform_account", "register_cli", "post_pending", "reserve", "reserve_many",
    "transfer", "transfer_many", "verify_ledger", "void_expired_holds", "void_pending", "wallet_of",
]
