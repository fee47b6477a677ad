"""The money half of the ops area: staff users signed in through the real forms, the market on live sandboxes."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.extensions import db
from app.models import Role, User
from tests.helpers import PASSWORD, csrf_from, totp_now
from tests.market.conftest import Market, _providers_server, market_app, providers  # noqa: F401

__all__ = ["Market"]


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    totp: bool
    session_token: str


def make_person(email: str, role: Role, *, totp: bool) -> Person:
    """Create a user inside an app context; returns what stays valid after the context ends.

    The user is made as registration makes it (argon2 at the suite's low cost: tests/conftest.py).
    """
    from app.people import accounts

    user = User(email=email, password_hash=accounts.hash_password(PASSWORD), role=role.value, locale="ru")
    db.session.add(user)
    db.session.flush()
    if totp:
        accounts.start_totp_enrolment(user)
        user.totp_enabled = True
    db.session.commit()
    return Person(user.id, user.email, totp, user.session_token)


def sign_in(app, person: Person):
    """A test client signed in as ``person`` through the login (and 2FA) forms."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": person.email, "password": PASSWORD,
                                           "csrf_token": csrf_from(page)})
    if person.totp:
        assert "/login/2fa" in response.headers["Location"]
        with app.app_context():
            code = totp_now(db.session.get(User, person.id))
        page = client.get("/login/2fa").get_data(as_text=True)
        response = client.post("/login/2fa", data={"code": code, "csrf_token": csrf_from(page)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def session_of(app, person: Person):
    """A test client holding the session the login forms would give ``person`` (no argon2, no TOTP wait).

    The forms themselves are exercised by :func:`sign_in` in the access tests.
    """
    from app.web.access import MFA_SESSION_KEY

    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"{person.id}:{person.session_token}"
        session["_fresh"] = True
        if person.totp:
            session[MFA_SESSION_KEY] = True
    return client


def token(client, path: str = "/account") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


@dataclass(frozen=True)
class Staff:
    ops: Person
    admin: Person
    admin2: Person
    ops_no_2fa: Person
    user: Person


def make_staff() -> Staff:
    return Staff(
        ops=make_person("ops@example.com", Role.OPS, totp=True),
        admin=make_person("admin@example.com", Role.ADMIN, totp=True),
        admin2=make_person("admin2@example.com", Role.ADMIN, totp=True),
        ops_no_2fa=make_person("ops-plain@example.com", Role.OPS, totp=False),
        user=make_person("someone@example.com", Role.USER, totp=False),
    )


@pytest.fixture
def staff(app) -> Staff:
    with app.app_context():
        return make_staff()


@pytest.fixture
def market_staff(market_app) -> Staff:  # noqa: F811 - the fixture imported above
    with market_app.app_context():
        return make_staff()


def audit_events(app, action: str) -> list:
    import sqlalchemy as sa

    from app.models import AuditEvent

    with app.app_context():
        rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return rows


def ledger_ok(app) -> None:
    """`flask ledger verify` exits 0: every balance recomputes and every invariant holds."""
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "0 violations" in result.output
