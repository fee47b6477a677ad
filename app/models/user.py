"""People who use the platform: buyers and sellers are the same `user` role."""
from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db


class Role(str, enum.Enum):
    USER = "user"
    OPS = "ops"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self in (Role.OPS, Role.ADMIN)


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    __tablename__ = "user"
    __table_args__ = (
        sa.CheckConstraint("role IN ('user', 'ops', 'admin')", name="role_known"),
        sa.CheckConstraint("locale IN ('ru', 'en')", name="locale_known"),
        sa.CheckConstraint("kyc_status IN ('none', 'pending', 'verified', 'rejected')", name="kyc_known"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    #: stored lower-cased; the login name
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    #: argon2id hash (argon2-cffi); never the password
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    role: so.Mapped[str] = so.mapped_column(sa.String(16), default=Role.USER.value)
    locale: so.Mapped[str] = so.mapped_column(sa.String(2), default="ru")
    #: changes at logout and password change so that every old session cookie stops working
    session_token: so.Mapped[str] = so.mapped_column(sa.String(64), default=new_session_token)
    #: Fernet ciphertext of the base32 TOTP seed; set while enrolling, trusted once totp_enabled
    totp_secret_encrypted: so.Mapped[str | None] = so.mapped_column(sa.Text)
    totp_enabled: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    #: the last accepted TOTP time step, so a code cannot be replayed within its window
    totp_last_step: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    kyc_status: so.Mapped[str] = so.mapped_column(sa.String(16), default="none")
    #: ops' note with the last KYC decision (why it was rejected, what was checked)
    kyc_note: so.Mapped[str | None] = so.mapped_column(sa.Text)
    kyc_reviewed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: a frozen user is skipped by matching and cannot cash out or withdraw
    is_frozen: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_login_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    def get_id(self) -> str:
        # Flask-Login stores this in the session; a changed token logs every old session out.
        return f"{self.id}:{self.session_token}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def is_staff(self) -> bool:
        return self.role_enum.is_staff

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"
