"""The "known device" cookie: a browser where the owner signed in before may try once during a slow-down.

Signed (not encrypted: it holds only the user id and a digest of the password
hash), HttpOnly, bound to the current password: a password change or reset
makes every such cookie worthless.  It opens nothing by itself; it only lets
one password attempt and one code attempt through a block of the account's
sign-in slow-down (app.people.login_slowdown).
"""
from __future__ import annotations

from flask import current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer

from app.models import User
from app.people import accounts

COOKIE = "known_device"
MAX_AGE = 180 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="pokerpay-known-device")


def remembered() -> dict | None:
    """The claim this browser carries, if it is ours and not too old (checked against the user by the service)."""
    value = request.cookies.get(COOKIE)
    if not value or len(value) > 512:
        return None
    try:
        claim = _serializer().loads(value, max_age=MAX_AGE)
    except BadData:
        return None
    return claim if isinstance(claim, dict) else None


def remember(response, user: User):
    """Mark this browser as the owner's after a full sign-in."""
    token = _serializer().dumps({"u": user.id, "f": accounts.password_fingerprint(user)})
    response.set_cookie(COOKIE, token, max_age=MAX_AGE, httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response
