"""The per-account sign-in slow-down: a bounded, doubling wait after repeated failures for one e-mail.

Login is also limited per client address (``LOGIN_RATE_LIMIT``); this is the
other half, against guessing one account's password from many addresses.

- Every password or 2FA attempt first takes the account's ``login_throttle``
  row under a row lock (SQLite: the write lock of ``BEGIN IMMEDIATE``), so
  concurrent attempts queue on it; an attempt while the account is blocked is
  refused *before* any password is checked.  N simultaneous guesses therefore
  get exactly as many password checks as the free failures allow.
- After ``FREE_FAILURES`` failures each further one blocks the account for
  ``BASE_SECONDS`` × 2ⁿ, at most ``MAX_SECONDS``: it can never become a
  permanent lock-out.  The owner also gets in during a block from a browser
  where they signed in before (a signed "known device" cookie bound to the
  password), one attempt per block, and a password reset clears it all.
- The row is keyed by an HMAC of the e-mail: an unknown address is slowed
  down exactly like a registered one (no account enumeration).
- The owner is told through the notification outbox once per window, under a
  unique event key made of the window's start: concurrent attempts cannot tell
  them twice.

Settings (app config, for tests and operators): ``LOGIN_SLOWDOWN_FREE_FAILURES``,
``LOGIN_SLOWDOWN_BASE_SECONDS``, ``LOGIN_SLOWDOWN_MAX_SECONDS``, ``LOGIN_SLOWDOWN_WINDOW_SECONDS``.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.core import audit
from app.database import utcnow
from app.extensions import db
from app.models import User
from app.models.account_security import LoginThrottle

FREE_FAILURES = 5
BASE_SECONDS = 30
MAX_SECONDS = 15 * 60
#: failures are forgotten after this long without one (and a new window starts)
WINDOW_SECONDS = 60 * 60


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(f"LOGIN_SLOWDOWN_{name}", default))


def email_key(email: str) -> str:
    normalised = (email or "").strip().lower().encode("utf-8", "surrogatepass")
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, b"login-throttle:" + normalised, hashlib.sha256).hexdigest()


def delay_after(failures: int) -> int:
    """Seconds the account is blocked after its ``failures``-th failure in a row (0: none yet)."""
    over = failures - _setting("FREE_FAILURES", FREE_FAILURES)
    if over < 0:
        return 0
    base, cap = _setting("BASE_SECONDS", BASE_SECONDS), _setting("MAX_SECONDS", MAX_SECONDS)
    return min(base * 2 ** min(over, 30), cap)


def _insert_missing(key: str, now: datetime) -> None:
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(LoginThrottle.__table__).values(
        email_key=key, failures=0, window_started_at=now, blocked_until=None, device_password_spent=False,
        device_code_spent=False, updated_at=now).on_conflict_do_nothing(index_elements=["email_key"]))


@dataclass
class Gate:
    """One attempt's place in the queue: the locked row, and whether the attempt may check a password."""

    row: LoginThrottle
    #: seconds until the next attempt may be checked; 0 = go ahead
    retry_after: int
    #: admitted past a block because it came from the owner's known device
    by_known_device: bool = False


def admit(email: str, *, step: str = "password", known_device: bool = False, now: datetime | None = None) -> Gate:
    """Lock the e-mail's throttle row and decide whether this attempt may be checked (caller commits).

    ``step`` is ``password`` or ``code``: during a block the owner's known device gets one attempt at each.
    """
    now = now or utcnow()
    key = email_key(email)
    _insert_missing(key, now)
    row = db.session.scalars(sa.select(LoginThrottle).where(LoginThrottle.email_key == key)
                             .with_for_update().execution_options(populate_existing=True)).one()
    if row.blocked_until is None or row.blocked_until <= now:
        row.device_password_spent = row.device_code_spent = False
        if row.failures and row.updated_at < now - timedelta(seconds=_setting("WINDOW_SECONDS", WINDOW_SECONDS)):
            row.failures, row.blocked_until, row.window_started_at = 0, None, now
        return Gate(row, 0)
    spent = "device_password_spent" if step == "password" else "device_code_spent"
    if known_device and not getattr(row, spent):
        # The owner's browser gets one try per block and step: a stolen cookie cannot be used to guess on.
        setattr(row, spent, True)
        return Gate(row, 0, by_known_device=True)
    return Gate(row, max(1, math.ceil((row.blocked_until - now).total_seconds())))


def refused(gate: Gate, email: str, user: User | None, step: str) -> None:
    """Audit an attempt refused by the slow-down (no password was checked)."""
    audit.record("auth.login_slowed", actor=user, target=user, step=step, retry_after=gate.retry_after,
                 failures=gate.row.failures, email_domain=(email or "").rpartition("@")[2][:100])


def failed(gate: Gate, user: User | None, now: datetime | None = None) -> None:
    """Count a wrong password or code; block when past the free failures; tell the owner once per window."""
    now = now or utcnow()
    row = gate.row
    row.failures += 1
    row.updated_at = now
    delay = delay_after(row.failures)
    if delay:
        row.blocked_until = now + timedelta(seconds=delay)
    if delay and user is not None and not delay_after(row.failures - 1):
        # The first block of this window: audit it and tell the owner (once: the key is the window's start).
        from app.notifications import inbox

        audit.record("auth.login_slowdown_started", actor=None, target=user, failures=row.failures,
                     blocked_seconds=delay)
        inbox.login_failures(user.id, row.window_started_at, row.failures)
    db.session.flush()


def succeeded(gate: Gate, now: datetime | None = None) -> None:
    """A full sign-in (password and, where on, the code): the account's failures are forgotten."""
    clear(gate.row, now)


def clear(row: LoginThrottle, now: datetime | None = None) -> None:
    now = now or utcnow()
    row.failures, row.blocked_until = 0, None
    row.device_password_spent = row.device_code_spent = False
    row.window_started_at = row.updated_at = now
    db.session.flush()


def clear_for(email: str) -> None:
    """Forget the e-mail's failures (after a password reset: the owner proved they hold the mailbox)."""
    db.session.execute(sa.update(LoginThrottle).where(LoginThrottle.email_key == email_key(email)).values(
        failures=0, blocked_until=None, device_password_spent=False, device_code_spent=False, window_started_at=utcnow(),
        updated_at=utcnow()))
