"""One-time 2FA setup links for staff: without one, a staff password alone cannot enrol a second factor.

A staff account without 2FA used to enrol at its first sign-in, so whoever had
the password could bind their own authenticator to it.  Now an admin (users
page) or an operator (`flask users setup-link`) issues a link; the staff member
opens it while signed in with the password, and only then sees the enrolment
page.  The link is random (only its SHA-256 is stored), expires after
``STAFF_SETUP_MAX_AGE`` seconds, is consumed by compare-and-set when the code is
confirmed, and a newer link replaces an older one.  Every step is audited.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.core import audit
from app.database import utcnow
from app.errors import ValidationFailed
from app.extensions import db
from app.models import User
from app.models.account_security import StaffSetupToken

MAX_AGE = 24 * 60 * 60


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _max_age() -> int:
    return int(current_app.config.get("STAFF_SETUP_MAX_AGE", MAX_AGE))


def needs_link(user: User) -> bool:
    """A staff member without 2FA: enrolment only through a setup link."""
    return user.is_staff and not user.totp_enabled


def issue(user: User, *, actor: User | None, reason: str | None = None) -> str:
    """A new setup link's token for ``user`` (shown once); older unused ones die (caller commits)."""
    if not user.is_staff:
        raise ValidationFailed(str(_l("Setup links are for staff accounts; users enrol 2FA themselves.")))
    if user.totp_enabled:
        raise ValidationFailed(str(_l("Two-factor authentication is already on for this account.")))
    now = utcnow()
    db.session.execute(sa.update(StaffSetupToken).where(
        StaffSetupToken.user_id == user.id, StaffSetupToken.used_at.is_(None)).values(used_at=now))
    token = secrets.token_urlsafe(32)
    db.session.add(StaffSetupToken(user_id=user.id, token_hash=_hash(token), issued_by_id=getattr(actor, "id", None),
                                   created_at=now, expires_at=now + timedelta(seconds=_max_age())))
    db.session.flush()
    audit.record("auth.staff_setup_issued", actor=actor, target=user, reason=reason, expires_in=_max_age(),
                 by="cli" if actor is None else "admin")
    return token


def link(token: str) -> str:
    from app.core.urls import public_url

    return public_url("auth.staff_setup", token=token)


def find_valid(user: User, token: str) -> StaffSetupToken | None:
    """The unused, unexpired setup token ``token`` of ``user``; None otherwise."""
    if not token or len(token) > 200:
        return None
    row = db.session.scalar(sa.select(StaffSetupToken).where(StaffSetupToken.token_hash == _hash(token)))
    if row is None or row.user_id != user.id or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def still_valid(user: User, token_id: int | None) -> bool:
    if token_id is None:
        return False
    row = db.session.get(StaffSetupToken, token_id)
    return bool(row and row.user_id == user.id and row.used_at is None and row.expires_at > utcnow())


def consume(user: User, token_id: int) -> bool:
    """Use the link up (compare-and-set): True for exactly one caller, while it is valid."""
    now = utcnow()
    used = db.session.execute(sa.update(StaffSetupToken).where(
        StaffSetupToken.id == token_id, StaffSetupToken.user_id == user.id, StaffSetupToken.used_at.is_(None),
        StaffSetupToken.expires_at > now).values(used_at=now)).rowcount
    if used:
        audit.record("auth.staff_setup_used", actor=user, target=user, setup_link_id=token_id)
    return bool(used)
