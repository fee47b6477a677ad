"""The ledger's exceptions: a small tree under :class:`LedgerError`.

Each is raised by :mod:`app.ledger.postings` *before* anything is written, so
the caller's transaction is still clean and may go on (or roll back).  The
default messages are user-safe and translatable; details for logs and ops go
in ``context`` (``DomainError(**context)``).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.errors import DomainError


class LedgerError(DomainError):
    """A money movement the ledger refused."""

    def default_message(self):
        return _l("The money movement could not be made.")


class InvalidAmount(LedgerError):
    """The amount is not a positive whole number of minor units within bounds."""

    def default_message(self):
        return _l("The amount is not valid.")


class SameAccount(LedgerError):
    """A transfer must debit one account and credit another."""

    def default_message(self):
        return _l("An account cannot pay itself.")


class AccountNotFound(LedgerError):
    """No ledger account with that id."""

    status_code = 404

    def default_message(self):
        return _l("The account does not exist.")


class AssetMismatch(LedgerError):
    """The two accounts count different assets (USD and RUB never mix)."""

    def default_message(self):
        return _l("The accounts hold different currencies.")


class InsufficientFunds(LedgerError):
    """The debit would overdraw an account flagged as limited."""

    def default_message(self):
        return _l("There are not enough funds for this operation.")


class PendingNotFound(LedgerError):
    """Post or void of something that is not a pending transfer."""

    status_code = 404

    def default_message(self):
        return _l("The reservation does not exist.")


class AlreadyResolved(LedgerError):
    """The pending transfer was already posted, voided or expired."""

    status_code = 409

    def default_message(self):
        return _l("This reservation has already been completed or cancelled.")


class PendingExpired(LedgerError):
    """The pending transfer passed its timeout and can no longer be posted."""

    status_code = 409

    def default_message(self):
        return _l("This reservation has expired.")


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a different movement."""

    status_code = 409

    def default_message(self):
        return _l("This request was already made with different details; reload the page and try again.")
