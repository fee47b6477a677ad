"""Domain errors.  Services raise these; blueprints turn them into clear messages.

Each carries a translatable, user-safe ``message``; nothing in it may contain a
secret.  The ledger's own errors live in :mod:`app.ledger.errors` and derive
from :class:`DomainError` too.
"""
from __future__ import annotations


class DomainError(Exception):
    """Base of every error a person can be told about."""

    #: HTTP status a JSON endpoint answers with
    status_code = 422

    def __init__(self, message: str | None = None, **context):
        self.message = message or self.default_message()
        self.context = context
        super().__init__(self.message)

    def default_message(self) -> str:
        return self.__class__.__doc__ or self.__class__.__name__


class ValidationFailed(DomainError):
    """The input is not acceptable."""


class NotPermitted(DomainError):
    """You are not allowed to do that."""

    status_code = 403


class NotFound(DomainError):
    """Not found."""

    status_code = 404


class Conflict(DomainError):
    """That changed in the meantime; reload and try again."""

    status_code = 409
