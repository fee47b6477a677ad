"""Account protection: the per-account sign-in slow-down and staff members' one-time 2FA setup links."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db


class LoginThrottle(db.Model):
    """Failed sign-ins of one e-mail address (app.people.login_slowdown).

    Keyed by an HMAC of the normalised e-mail rather than the user id: an address
    with no account is slowed down exactly like one with an account, so the
    slow-down does not tell which e-mails are registered.
    """

    __tablename__ = "login_throttle"
    __table_args__ = (
        sa.CheckConstraint("failures >= 0", name="failures_nonneg"),
    )

    email_key: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    #: wrong passwords and wrong codes since the window started (reset by a successful sign-in)
    failures: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    #: the window's start: the owner is told at most once per window (the notification's event key)
    window_started_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    #: no password is even checked before this (unless from the owner's known device, once)
    blocked_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: the owner's known device already used its one password attempt / one code attempt past this block
    device_password_spent: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    device_code_spent: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class StaffSetupToken(db.Model):
    """A one-time link an admin (or `flask users setup-link`) gives a staff member to enrol 2FA.

    Only the SHA-256 of the token is stored; the token itself is shown once, to the issuer.
    """

    __tablename__ = "staff_setup_token"

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    #: the admin who issued it; None when issued from the command line
    issued_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    #: set once, by compare-and-set, when enrolment with it succeeds (or when a newer link replaces it)
    used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
