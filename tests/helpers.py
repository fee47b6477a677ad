"""Factories and helpers shared by the tests (CTFd-style ``gen_*`` functions)."""
from __future__ import annotations

import re

import pyotp

from app import crypto
from app.extensions import db
from app.models import Role, User
from app.people import accounts

PASSWORD = "Correct-Horse-7"
_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
_HX_CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def gen_user(email: str = "user@example.com", *, role: Role = Role.USER, password: str = PASSWORD,
             totp: bool = False, locale: str = "ru") -> User:
    """Create and commit a user (inside an app context)."""
    user = accounts.register(email, password, locale=locale, role=role)
    if totp:
        accounts.start_totp_enrolment(user)
        user.totp_enabled = True
    db.session.commit()
    return user


def totp_now(user: User, *, step_offset: int = 0) -> str:
    totp = pyotp.TOTP(crypto.decrypt(user.totp_secret_encrypted))
    import time

    return totp.at(time.time() + step_offset * 30)


def csrf_from(html: str) -> str:
    match = _CSRF_RE.search(html) or _HX_CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return next(g for g in match.groups() if g)


class AuthActions:
    """Sign in and out through the real forms, CSRF included."""

    def __init__(self, client, app):
        self.client = client
        self.app = app

    def csrf(self, path: str = "/login") -> str:
        return csrf_from(self.client.get(path).get_data(as_text=True))

    def login(self, email: str = "user@example.com", password: str = PASSWORD, *, totp_code: str | None = None):
        token = self.csrf("/login")
        response = self.client.post("/login", data={"email": email, "password": password, "csrf_token": token})
        if totp_code is not None and response.status_code == 302 and "/login/2fa" in response.headers["Location"]:
            token = self.csrf("/login/2fa")
            response = self.client.post("/login/2fa", data={"code": totp_code, "csrf_token": token})
        return response

    def login_as(self, user: User, password: str = PASSWORD):
        """Sign in ``user``, passing 2FA when the user has it."""
        code = None
        if user.totp_enabled:
            with self.app.app_context():
                code = totp_now(db.session.get(User, user.id))
        return self.login(user.email, password, totp_code=code)

    def logout(self):
        token = self.csrf("/account")
        return self.client.post("/logout", data={"csrf_token": token})

    def post(self, path: str, data: dict | None = None, **kwargs):
        """POST with a valid CSRF token taken from the page at ``path``'s GET (or /account)."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf(kwargs.pop("token_from", "/account")))
        return self.client.post(path, data=data, **kwargs)


def terminate_backend(database_url: str, pid: int) -> bool:
    """Kill one PostgreSQL backend from a connection of its own, as a restart or failover would."""
    import time

    import sqlalchemy as sa

    killer = sa.create_engine(database_url)
    try:
        with killer.connect() as conn:
            killed = bool(conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar())
            # pg_terminate_backend only signals it: wait until it is gone, so the victim's next statement
            # meets a closed connection, not a backend still finishing (which made the outcome a race)
            deadline = time.monotonic() + 5
            while killed and time.monotonic() < deadline and conn.execute(
                    sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first():
                conn.rollback()
                time.sleep(0.01)
            return killed
    finally:
        killer.dispose()


def own_backend_pid(conn=None) -> int:
    """The PostgreSQL backend of ``conn`` (a connection or session; the current session by default)."""
    import sqlalchemy as sa

    return (conn or db.session).execute(sa.text("SELECT pg_backend_pid()")).scalar()
