"""Password reset by e-mail: a signed, expiring link that dies at first use.

Nothing is stored for a link.  It is signed with ``SECRET_KEY`` and carries the
user id and :func:`accounts.password_fingerprint` — a keyed digest of the
current password hash — so:
- it expires after ``PASSWORD_RESET_MAX_AGE`` seconds (the signature's timestamp);
- it is single-use: the reset changes the password hash (argon2 salts every
  hash), which kills this link and every other one issued before, and a link
  issued before any other password change is dead too;
- two concurrent uses of one link: the user row is locked and the fingerprint
  checked again under the lock, so only the first one resets.
A request answers the same whether or not the e-mail has an account, and does
the same work (no argon2 on either path; the mail is sent by a job after the
commit), so neither the page nor its timing tells which addresses are registered.
"""
from __future__ import annotations

import hmac
import logging
import secrets

import redis
import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, URLSafeTimedSerializer

from app.core import audit
from app.core.after_commit import after_commit
from app.errors import ValidationFailed
from app.extensions import db
from app.models import User
from app.people import accounts, login_slowdown

log = logging.getLogger(__name__)

MAX_AGE = 60 * 60
#: at most one reset e-mail per address in this many seconds (against mail-bombing someone's inbox)
MAIL_INTERVAL = 120


class ResetLinkInvalid(ValidationFailed):
    """The link is forged, expired, already used, or older than the current password."""


def _max_age() -> int:
    return int(current_app.config.get("PASSWORD_RESET_MAX_AGE", MAX_AGE))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="pokerpay-password-reset")


def make_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "f": accounts.password_fingerprint(user)})


def _claim(token: str) -> dict | None:
    if not token or len(token) > 512:
        return None
    try:
        claim = _serializer().loads(token, max_age=_max_age())
    except BadData:
        return None
    return claim if isinstance(claim, dict) and isinstance(claim.get("u"), int) else None


def user_of(token: str, *, lock: bool = False) -> User | None:
    """The user a valid, unused, unexpired link is for; None otherwise."""
    claim = _claim(token)
    if claim is None:
        return None
    query = sa.select(User).where(User.id == claim["u"])
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    user = db.session.scalars(query).one_or_none()
    if user is None or not hmac.compare_digest(str(claim.get("f", "")), accounts.password_fingerprint(user)):
        return None
    return user


def _mail_allowed(email: str) -> bool:
    """One mail per address per interval (Redis; if Redis is down, the address limit still holds)."""
    try:
        key = f"pokerpay:password-reset-mail:{login_slowdown.email_key(email)}"
        from app.redis_client import get_redis

        return bool(get_redis().set(key, "1", nx=True, ex=int(current_app.config.get(
            "PASSWORD_RESET_MAIL_INTERVAL", MAIL_INTERVAL))))
    except redis.RedisError:
        return True


def request_reset(email: str) -> None:
    """Queue a reset e-mail if ``email`` has an account (caller commits); the same work either way."""
    user = accounts.find_by_email(email)
    allowed = _mail_allowed(email)
    audit.record("auth.password_reset_requested", actor=user, target=user, mailed=bool(user and allowed),
                 email_domain=email.rpartition("@")[2][:100])
    if user is not None and allowed:
        after_commit("password_reset.send", user.id)


def reset(token: str, new_password: str) -> User:
    """Set a new password with a valid link; end every session; forget failed sign-ins (caller commits)."""
    user = user_of(token, lock=True)
    if user is None:
        raise ResetLinkInvalid(str(_l("This link is invalid, expired or already used. Ask for a new one.")))
    problems = accounts.password_problems(new_password, user.email)
    if problems:
        raise accounts.WeakPassword(str(_l("The password is too weak: %(why)s.", why="; ".join(problems))))
    user.password_hash = accounts.hash_password(new_password)
    accounts.end_all_sessions(user)
    login_slowdown.clear_for(user.email)
    audit.record("auth.password_reset", actor=user, target=user)
    return user


def send_mail(user_id: int) -> bool:
    """Make a fresh link and e-mail it (the job); False when e-mail is off or the user is gone."""
    from app.core.urls import public_url
    from app.notifications.channel import DeliveryFailed, Message
    from app.notifications.email import EmailChannel

    user = db.session.get(User, user_id)
    channel = EmailChannel()
    if user is None or not channel.available():
        log.warning("password reset e-mail for user %s not sent: %s", user_id,
                    "no such user" if user is None else "e-mail is not configured (SMTP_HOST)")
        return False
    token = make_token(user)
    minutes = _max_age() // 60
    with force_locale(user.locale):
        message = Message(
            title=_("Reset your PokerPay password"),
            body=_("Someone, hopefully you, asked to reset the password of your PokerPay account. Open the link "
                   "below within %(n)d minutes to choose a new one. If it was not you, ignore this e-mail: your "
                   "password stays as it is.", n=minutes),
            link=public_url("auth.reset_password", token=token),
            dedup_key=f"pokerpay-password-reset-{user.id}-{secrets.token_hex(8)}",
        )
    try:
        channel.send(user.email, message)
    except DeliveryFailed as exc:
        log.warning("password reset e-mail for user %s failed: %s", user_id, exc.reason)
        raise
    return True
