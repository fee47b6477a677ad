"""The ops area's people: an ops user and an admin with 2FA, ops without it, a plain user."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from app import ledger
from app.extensions import db
from app.models import Role, User
from tests.helpers import PASSWORD, csrf_from, totp_now


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    totp: bool


@dataclass(frozen=True)
class Staff:
    ops: Person
    admin: Person
    ops_without_2fa: Person
    user: Person


def quick_user(email: str, *, role: Role = Role.USER, totp: bool = False) -> User:
    """Like ``gen_user`` without registration's audit row and checks: a user of ``role``, optionally with 2FA."""
    from app.people import accounts

    user = User(email=email, password_hash=accounts.hash_password(PASSWORD), role=role.value, locale="ru")
    db.session.add(user)
    db.session.flush()
    if totp:
        accounts.start_totp_enrolment(user)
        user.totp_enabled = True
    db.session.commit()
    return user


def person(user: User) -> Person:
    return Person(user.id, user.email, user.totp_enabled)


@pytest.fixture
def staff(app) -> Staff:
    with app.app_context():
        return Staff(
            ops=person(quick_user("ops@example.com", role=Role.OPS, totp=True)),
            admin=person(quick_user("admin@example.com", role=Role.ADMIN, totp=True)),
            ops_without_2fa=person(quick_user("ops2@example.com", role=Role.OPS)),
            user=person(quick_user("user@example.com")),
        )


def sign_in(app, person: Person | None):
    """A fresh test client signed in as ``person`` (through the real forms, 2FA included)."""
    client = app.test_client()
    if person is None:
        return client
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": person.email, "password": PASSWORD, "csrf_token": csrf_from(page)})
    if person.totp:
        with app.app_context():
            code = totp_now(db.session.get(User, person.id))
        page = client.get("/login/2fa").get_data(as_text=True)
        response = client.post("/login/2fa", data={"code": code, "csrf_token": csrf_from(page)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


@pytest.fixture
def ops_client(app, staff):
    return sign_in(app, staff.ops)


@pytest.fixture
def admin_client(app, staff):
    return sign_in(app, staff.admin)


def post_form(client, page_path: str, action: str, data: dict):
    """POST ``data`` to ``action`` with the CSRF token of the page at ``page_path``."""
    token = csrf_from(client.get(page_path).get_data(as_text=True))
    return client.post(action, data={**data, "csrf_token": token})


def audit_events(app, action: str) -> list:
    import sqlalchemy as sa

    from app.models import AuditEvent

    with app.app_context():
        events = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                                         .order_by(AuditEvent.id)))
        db.session.expunge_all()
        return events


SECRET = "super-secret-terminal-pass"


def fund(user, cents: int) -> None:
    ledger.transfer(key=f"test-fund:{uuid.uuid4().hex}", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                    credit=ledger.wallet_of(user.id), amount=cents, kind=ledger.TransferKind.ROOM_DEPOSIT)


def make_seller(email: str, dollars: int = 100_00):
    """A seller with a verified room account, a T-Bank API form and dollars for sale in the queue."""
    from app.market import payment_forms, withdrawals
    from app.room import room_accounts

    user = quick_user(email)
    account = room_accounts.add_room_account(user, email.split("@")[0])
    room_accounts.mark_verified(account, by="ops")
    fund(user, dollars)
    form = payment_forms.add_form(user, "tbank", "main", {"terminal_key": "TK" + uuid.uuid4().hex[:8],
                                                          "password": SECRET}, check_live=False)
    request = withdrawals.create(user, payment_form_id=form.id, amount=dollars // 2, min_invoice_kopecks=100_00,
                                 max_invoice_kopecks=10_000_00, max_open_invoices=3, request_key=uuid.uuid4().hex)
    db.session.commit()
    return user, account, form, request


def make_deposit(buyer, rubles_kopecks: int):
    from app.core.settings import current_settings
    from app.market import matching, quotes

    deposit = matching.create_deposit(buyer, quotes.quote("tbank", rubles_kopecks, current_settings()),
                                      uuid.uuid4().hex)
    db.session.commit()
    return deposit
