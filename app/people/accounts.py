"""Accounts: registration, passwords, sign-in checks, roles and TOTP two-factor.

Passwords are hashed with argon2id.  TOTP seeds are encrypted at rest and a
code is accepted at most once (the last used time step is remembered).
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from flask_babel import lazy_gettext as _l

from app import crypto
from app.core import audit
from app.database import utcnow
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Role, User
from app.models.user import new_session_token
from app.people import login_slowdown

_hasher = PasswordHasher()
# A hash of a random password: verifying against it when the e-mail is unknown keeps
# the response time the same, so timing does not reveal which e-mails are registered.
_DUMMY_HASH = _hasher.hash("not-a-real-password-Zx9!")

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
TOTP_ISSUER = "PokerPay"


class EmailTaken(ValidationFailed):
    """An account with this e-mail already exists."""


class WeakPassword(ValidationFailed):
    """The password is too weak."""


def password_problems(password: str, email: str = "") -> list[str]:
    """Why a password is not acceptable (an empty list when it is)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(str(_l("at least %(n)d characters", n=MIN_PASSWORD_LENGTH)))
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(str(_l("at most %(n)d characters", n=MAX_PASSWORD_LENGTH)))
    classes = sum(bool(re.search(p, password)) for p in (r"[a-zа-яё]", r"[A-ZА-ЯЁ]", r"\d", r"[^\w\s]"))
    if classes < 3:
        problems.append(str(_l("three of: lower-case, upper-case, digits, symbols")))
    local_part = email.split("@")[0].lower()
    if local_part and len(local_part) >= 4 and local_part in password.lower():
        problems.append(str(_l("must not contain your e-mail")))
    return problems


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def find_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))


def register(email: str, password: str, locale: str = "ru", role: Role = Role.USER) -> User:
    email = email.strip().lower()
    problems = password_problems(password, email)
    if problems:
        raise WeakPassword(str(_l("The password is too weak: %(why)s.", why="; ".join(problems))))
    if find_by_email(email) is not None:
        raise EmailTaken(str(_l("An account with this e-mail already exists.")))
    user = User(email=email, password_hash=hash_password(password), role=role.value, locale=locale)
    db.session.add(user)
    db.session.flush()
    audit.record("auth.register", actor=user, target=user)
    return user


def check_password(user: User | None, password: str) -> bool:
    """Constant-work password check; rehashes when argon2 parameters changed."""
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if user is None:
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def password_fingerprint(user: User) -> str:
    """A keyed digest of the current password hash: what reset links and known-device cookies are bound to.

    Any password change (a reset included: argon2 salts every hash) changes it, which kills every
    reset link issued before and every known-device cookie.
    """
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, b"password:" + user.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def is_known_device(user: User | None, remembered: dict | None) -> bool:
    """Whether a browser's signed known-device claim is for this user's current password."""
    if user is None or not isinstance(remembered, dict):
        return False
    return remembered.get("u") == user.id and hmac.compare_digest(str(remembered.get("f", "")),
                                                                  password_fingerprint(user))


@dataclass
class Attempt:
    """The outcome of one sign-in step: the user when it passed; ``retry_after`` when the slow-down refused it."""

    user: User | None
    gate: login_slowdown.Gate

    @property
    def retry_after(self) -> int:
        return self.gate.retry_after


def password_step(email: str, password: str, *, remembered: dict | None = None) -> Attempt:
    """Check e-mail and password behind the account's slow-down (audits failures; caller commits).

    A user with 2FA has not signed in yet: the failures are forgotten only after the code step.
    """
    user = find_by_email(email)
    gate = login_slowdown.admit(email, step="password", known_device=is_known_device(user, remembered))
    if gate.retry_after:
        login_slowdown.refused(gate, email, user, "password")
        return Attempt(None, gate)
    if not check_password(user, password):
        audit.record("auth.login_failed", actor=user, email_domain=email.rpartition("@")[2][:100])
        login_slowdown.failed(gate, user)
        return Attempt(None, gate)
    if not user.totp_enabled:
        login_slowdown.succeeded(gate)
    return Attempt(user, gate)


def code_step(user: User, code: str, *, known_device: bool = False) -> Attempt:
    """Check the TOTP code behind the same slow-down (wrong codes count like wrong passwords)."""
    gate = login_slowdown.admit(user.email, step="code", known_device=known_device)
    if gate.retry_after:
        login_slowdown.refused(gate, user.email, user, "code")
        return Attempt(None, gate)
    if not verify_totp(user, code):
        audit.record("auth.2fa_failed", actor=user, target=user)
        login_slowdown.failed(gate, user)
        return Attempt(None, gate)
    login_slowdown.succeeded(gate)
    return Attempt(user, gate)


def record_login(user: User, *, second_factor: bool) -> None:
    user.last_login_at = utcnow()
    audit.record("auth.login", actor=user, target=user, second_factor=second_factor)


def end_all_sessions(user: User) -> None:
    """Invalidate every session cookie of this user (logout, password change)."""
    user.session_token = new_session_token()


def change_password(user: User, current: str, new: str) -> None:
    if not check_password(user, current):
        raise ValidationFailed(str(_l("The current password is wrong.")))
    problems = password_problems(new, user.email)
    if problems:
        raise WeakPassword(str(_l("The password is too weak: %(why)s.", why="; ".join(problems))))
    user.password_hash = hash_password(new)
    end_all_sessions(user)
    audit.record("auth.password_changed", actor=user, target=user)


def set_role(user: User, role: Role, *, actor: User | None) -> None:
    old = user.role
    user.role = role.value
    end_all_sessions(user)
    audit.record("auth.role_changed", actor=actor, target=user, old=old, new=role.value)


# --- TOTP two-factor -------------------------------------------------------------------

def start_totp_enrolment(user: User) -> str:
    """Create a fresh seed (not yet trusted) and return its otpauth:// URI for the QR code."""
    seed = pyotp.random_base32()
    user.totp_secret_encrypted = crypto.encrypt(seed)
    user.totp_enabled = False
    db.session.flush()
    return pyotp.TOTP(seed).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def totp_uri(user: User) -> str | None:
    if not user.totp_secret_encrypted:
        return None
    seed = crypto.decrypt(user.totp_secret_encrypted)
    return pyotp.TOTP(seed).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def verify_totp(user: User, code: str) -> bool:
    """Accept a 6-digit code once: the window allows ±1 step of clock drift, never a replay."""
    if not user.totp_secret_encrypted:
        return False
    code = re.sub(r"\s", "", code or "")
    if not re.fullmatch(r"\d{6}", code):
        return False
    totp = pyotp.TOTP(crypto.decrypt(user.totp_secret_encrypted))
    now = utcnow()
    current_step = totp.timecode(now)
    for offset in (0, -1, 1):
        step = current_step + offset
        if step <= (user.totp_last_step or -1):
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            user.totp_last_step = step
            return True
    return False


def confirm_totp_enrolment(user: User, code: str) -> bool:
    if not verify_totp(user, code):
        return False
    user.totp_enabled = True
    audit.record("auth.2fa_enabled", actor=user, target=user)
    return True


def disable_totp(user: User, *, actor: User, reason: str | None = None) -> None:
    user.totp_enabled = False
    user.totp_secret_encrypted = None
    user.totp_last_step = None
    end_all_sessions(user)
    action = "auth.2fa_disabled" if actor.id == user.id else "auth.2fa_reset"
    audit.record(action, actor=actor, target=user, reason=reason)
