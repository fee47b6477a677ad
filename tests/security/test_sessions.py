"""Sessions: a fresh session at sign-in (fixation), brute-force limits, logout and password change end old cookies."""
from __future__ import annotations

import uuid

from app.extensions import db
from app.models import User
from tests.helpers import PASSWORD, AuthActions, csrf_from, gen_user, totp_now


def _cookie(client) -> str:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else ""


def _client_with_cookie(app, value: str):
    other = app.test_client()
    other.set_cookie("session", value, domain="localhost")
    return other


def _fresh_address(client) -> None:
    client.environ_base["REMOTE_ADDR"] = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


def test_sign_in_starts_a_fresh_session(app, client, auth):
    """Does sign-in drop whatever was planted in the session before, and issue a different cookie?"""
    with app.app_context():
        gen_user()
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "attacker"
        session["mfa_ok"] = True  # an attacker's attempt to pre-set the second factor
    before = _cookie(client)
    assert auth.login().status_code == 302
    after = _cookie(client)
    assert after and after != before
    with client.session_transaction() as session:
        assert "planted" not in session and session.get("mfa_ok") is False
    # The pre-login cookie an attacker may have fixed is still anonymous.
    assert _client_with_cookie(app, before).get("/account").status_code == 302


def test_two_factor_step_starts_a_fresh_session_too(app, client, auth):
    """Is the session renewed after the 2FA step (the pending-login state does not survive)?"""
    with app.app_context():
        user = gen_user(totp=True)
        code = totp_now(user)
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "attacker"
    assert "/login/2fa" in auth.login().headers["Location"]
    half_way = _cookie(client)
    assert _client_with_cookie(app, half_way).get("/account").status_code == 302  # password alone is not a session
    token = csrf_from(client.get("/login/2fa").get_data(as_text=True))
    assert client.post("/login/2fa", data={"code": code, "csrf_token": token}).status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session and "pending_2fa_user" not in session and session["mfa_ok"] is True
    assert _cookie(client) != half_way


def test_logout_invalidates_the_old_cookie(app, client, auth):
    """After logout, does a copy of the old session cookie stop working?"""
    with app.app_context():
        gen_user()
    auth.login()
    stolen = _cookie(client)
    assert _client_with_cookie(app, stolen).get("/account").status_code == 200
    assert auth.logout().status_code == 302
    assert _client_with_cookie(app, stolen).get("/account").status_code == 302


def test_password_change_ends_every_other_session(app, auth):
    """Does changing the password sign out the user's other browsers?"""
    with app.app_context():
        gen_user()
    phone, laptop = app.test_client(), app.test_client()
    AuthActions(phone, app).login()
    AuthActions(laptop, app).login()
    token = csrf_from(laptop.get("/account").get_data(as_text=True))
    response = laptop.post("/account", data={"csrf_token": token, "pw-current": PASSWORD, "pw-password": "New-Horse-8!x",
                                             "pw-confirm": "New-Horse-8!x", "pw-submit": "1"})
    assert response.status_code == 302
    assert phone.get("/account").status_code == 302


def test_password_guessing_is_cut_off(app_factory):
    """Does login answer 429 after the limit even when the guess is finally right, and keep it a 429?"""
    app = app_factory(LOGIN_RATE_LIMIT="5 per minute")
    with app.app_context():
        gen_user()
    client = app.test_client()
    _fresh_address(client)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    codes = [client.post("/login", data={"email": "user@example.com", "password": f"guess-{i}", "csrf_token": token})
             .status_code for i in range(5)]
    assert codes == [200] * 5
    right = client.post("/login", data={"email": "user@example.com", "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 429
    assert client.get("/account").status_code == 302  # not signed in
    with app.app_context():
        from app.models.audit import AuditEvent

        failures = db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.action == "auth.login_failed"))
        assert failures == 5  # every guess is on record for ops


def test_second_factor_guessing_is_cut_off(app_factory):
    """Is the TOTP step limited as well (a million codes cannot be tried)?"""
    app = app_factory(LOGIN_RATE_LIMIT="5 per minute")
    with app.app_context():
        user = gen_user(totp=True)
        code = totp_now(user)
    client = app.test_client()
    _fresh_address(client)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "user@example.com", "password": PASSWORD, "csrf_token": token})
    token = csrf_from(client.get("/login/2fa").get_data(as_text=True))
    wrong = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c != code][:5]
    codes = [client.post("/login/2fa", data={"code": c, "csrf_token": token}).status_code for c in wrong]
    assert codes == [200] * 5
    assert client.post("/login/2fa", data={"code": code, "csrf_token": token}).status_code == 429
    with app.app_context():
        assert db.session.get(User, user.id).last_login_at is None
