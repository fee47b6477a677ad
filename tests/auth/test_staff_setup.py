"""Staff 2FA enrolment needs a one-time setup link from an admin or the CLI: the password alone gets nothing."""
from __future__ import annotations

import re

import pyotp
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Role, User
from tests.helpers import AuthActions, csrf_from, gen_user, totp_now

LINK_RE = re.compile(r"https?://[^\s<]+(/account/2fa/setup/[\w-]+)")


def _actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def _enrol(client, app):
    """Scan the QR (read the secret off the page) and confirm a code; the response of the confirmation."""
    page = client.get("/account/2fa")
    if page.status_code != 200:
        return page
    html = page.get_data(as_text=True)
    secret = re.search(r"<code>([A-Z2-7]+)</code>", html).group(1)
    return client.post("/account/2fa", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(html)})


def test_a_staff_password_alone_gets_no_enrolment_page(app, client, auth):
    """Does an ops account without 2FA, signed in with the password, get neither the ops area nor a seed?"""
    with app.app_context():
        gen_user("ops@example.com", role=Role.OPS)
    assert auth.login("ops@example.com").status_code == 302
    refused = client.get("/account/2fa")
    assert refused.status_code == 403 and "ссылк" in refused.get_data(as_text=True)
    assert client.post("/account/2fa", data={"code": "123456", "csrf_token": auth.csrf("/account")}).status_code == 403
    assert client.get("/admin/").status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(User.totp_secret_encrypted).where(User.email == "ops@example.com")) is None


def test_an_admin_issues_a_link_that_enrols_once(app, client, auth):
    """Admin page → link → staff signs in, opens it, enrols; the link then is dead, and all of it is audited."""
    with app.app_context():
        admin = gen_user("admin@example.com", role=Role.ADMIN, totp=True)
        admin_code = totp_now(admin)
        ops_id = gen_user("ops@example.com", role=Role.OPS).id
    assert auth.login("admin@example.com", totp_code=admin_code).status_code == 302
    page = client.get(f"/admin/users/{ops_id}").get_data(as_text=True)
    issued = client.post(f"/admin/users/{ops_id}/setup-link", data={"stp-reason": "new colleague",
                                                                    "csrf_token": csrf_from(page)})
    assert issued.status_code == 200
    path = LINK_RE.search(issued.get_data(as_text=True)).group(1)

    staff = app.test_client()
    staff_auth = AuthActions(staff, app)
    start = staff.get(path)  # not signed in yet: to sign in, and back to the link after the password
    assert start.status_code == 302 and "/login" in start.headers["Location"]
    token = staff_auth.csrf("/login")
    signed_in = staff.post(start.headers["Location"], data={"email": "ops@example.com", "password": "Correct-Horse-7",
                                                            "csrf_token": token})
    assert signed_in.headers["Location"] == path
    assert staff.get(path).headers["Location"].endswith("/account/2fa")
    assert _enrol(staff, app).status_code == 302
    assert staff.get("/admin/").status_code == 200  # enrolled in this session: the ops area opens
    with app.app_context():
        assert db.session.get(User, ops_id).totp_enabled
        assert {"auth.staff_setup_issued", "auth.staff_setup_used", "auth.2fa_enabled"} <= set(_actions())
    # Used: the same link opens nothing again.
    assert staff.get(path).status_code == 400
    # An enrolled staff member, or an ordinary user, gets no link: a form error, nothing written.
    with app.app_context():
        user_id = gen_user("user@example.com").id
    for target in (ops_id, user_id):
        page = client.get(f"/admin/users/{target}").get_data(as_text=True)
        refused = client.post(f"/admin/users/{target}/setup-link", data={"stp-reason": "why not",
                                                                         "csrf_token": csrf_from(page)})
        assert refused.status_code == 422
    with app.app_context():
        assert _actions().count("auth.staff_setup_issued") == 1


def test_a_link_is_bound_to_its_account_expires_and_is_replaced(app_factory):
    """Is a link refused for another account, after its lifetime, and once a newer one was issued?"""
    app = app_factory(STAFF_SETUP_MAX_AGE=3600)
    runner = app.test_cli_runner()
    with app.app_context():
        gen_user("ops@example.com", role=Role.OPS)
        gen_user("ops2@example.com", role=Role.OPS)
    first = LINK_RE.search(runner.invoke(args=["users", "setup-link", "ops@example.com"]).output).group(1)
    second = LINK_RE.search(runner.invoke(args=["users", "setup-link", "ops@example.com"]).output).group(1)
    other = app.test_client()
    AuthActions(other, app).login("ops2@example.com")
    assert other.get(second).status_code == 400  # not ops2's link
    client = app.test_client()
    AuthActions(client, app).login("ops@example.com")
    assert client.get(first).status_code == 400  # replaced by the newer one
    assert client.get(second).status_code == 302
    app.config["STAFF_SETUP_MAX_AGE"] = 0
    third = LINK_RE.search(runner.invoke(args=["users", "setup-link", "ops@example.com"]).output).group(1)
    assert client.get(third).status_code == 400  # expired at once
    assert client.get("/account/2fa").status_code == 403  # and the second died when the third was issued
    refused = runner.invoke(args=["users", "setup-link", "nobody@example.com"])
    assert refused.exit_code != 0 and "no account" in refused.output


def test_create_admin_prints_a_setup_link_and_users_keep_enrolling_freely(app, client, auth):
    """Does `flask users create-admin` print a working link, while an ordinary user still enrols without one?"""
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create-admin", "boss@example.com"], input="Correct-Horse-7\nCorrect-Horse-7\n")
    assert result.exit_code == 0, result.output
    path = LINK_RE.search(result.output).group(1)
    with app.app_context():
        gen_user("user@example.com")
    auth.login("user@example.com")
    assert client.get("/account/2fa").status_code == 200
    auth.logout()
    boss = app.test_client()
    AuthActions(boss, app).login("boss@example.com")
    assert boss.get(path).status_code == 302
    assert _enrol(boss, app).status_code == 302
