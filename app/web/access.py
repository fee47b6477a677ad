"""Who may open what.

Every endpoint requires a signed-in user unless it is marked :func:`public`
(or is a static file).  This is enforced once, in a ``before_request`` hook,
so a new view is private by default and the access-matrix test can list the
public ones.  Role checks are decorators (:func:`roles_required`) or a
blueprint-wide guard (:func:`guard_blueprint`) such as the admin area's.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Blueprint, abort, current_app, request, session
from flask_login import current_user

from app.models import Role

_PUBLIC_ATTR = "_pokerpay_public"
#: session key set when the second factor was checked in this session
MFA_SESSION_KEY = "mfa_ok"


def public(view: Callable) -> Callable:
    """Mark a view as reachable without signing in."""
    setattr(view, _PUBLIC_ATTR, True)
    return view


def is_public_endpoint(endpoint: str | None) -> bool:
    if endpoint is None:
        return True  # 404s: let the router answer
    if endpoint == "static" or endpoint.endswith(".static"):
        return True
    view = current_app.view_functions.get(endpoint)
    return bool(view and getattr(view, _PUBLIC_ATTR, False))


def require_login_unless_public():
    """The app-wide ``before_request`` guard."""
    if is_public_endpoint(request.endpoint):
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


def has_second_factor() -> bool:
    return bool(current_user.is_authenticated and current_user.totp_enabled and session.get(MFA_SESSION_KEY))


def check_roles(*roles: Role, mfa: bool = False) -> None:
    """Abort with 403 unless the signed-in user has one of ``roles`` (and passed 2FA if asked)."""
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role_enum not in roles:
        abort(403)
    if mfa and not has_second_factor():
        abort(403, description="two_factor_required")


def roles_required(*roles: Role, mfa: bool = False) -> Callable:
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            check_roles(*roles, mfa=mfa)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def guard_blueprint(bp: Blueprint, *roles: Role, mfa: bool = False) -> None:
    """Apply one role check to every view of ``bp``."""

    @bp.before_request
    def _guard():
        check_roles(*roles, mfa=mfa)
