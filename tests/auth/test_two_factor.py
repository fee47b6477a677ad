"""TOTP two-factor: enrolment, sign-in with a code, replay refused."""
import re

import pyotp

from app.extensions import db
from app.models import User
from tests.helpers import csrf_from, gen_user, totp_now


def test_enrol_then_sign_in_with_a_code(client, app, auth):
    """Can a user enrol with the QR secret, and must they then give a code at sign-in?"""
    with app.app_context():
        gen_user()
    auth.login()
    page = client.get("/account/2fa").get_data(as_text=True)
    assert "<svg" in page
    secret = re.search(r"<code>([A-Z2-7]+)</code>", page).group(1)
    code = pyotp.TOTP(secret).now()
    response = client.post("/account/2fa", data={"code": code, "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(User, 1).totp_enabled
    auth.logout()
    first = auth.login()
    assert "/login/2fa" in first.headers["Location"]
    assert client.get("/account").status_code == 302  # not signed in yet
    with app.app_context():
        user = db.session.get(User, 1)
        code = totp_now(user, step_offset=1)
    token = auth.csrf("/login/2fa")
    assert client.post("/login/2fa", data={"code": code, "csrf_token": token}).status_code == 302
    assert client.get("/account").status_code == 200


def test_a_code_cannot_be_used_twice(client, app, auth):
    """Is a TOTP code refused the second time within its window?"""
    with app.app_context():
        user = gen_user(totp=True)
        code = totp_now(user)
    assert auth.login(totp_code=code).status_code == 302
    auth.logout()
    response = auth.login(totp_code=code)
    assert response.status_code == 200
    assert "уже использован" in response.get_data(as_text=True)


def test_wrong_code_is_refused(client, app, auth):
    """Does a wrong code keep the user signed out with a message?"""
    with app.app_context():
        gen_user(totp=True)
    response = auth.login(totp_code="000000")
    assert response.status_code == 200
    assert client.get("/account").status_code == 302


def test_the_secret_is_encrypted_at_rest(app_ctx):
    """Is the TOTP seed stored only as ciphertext?"""
    user = gen_user(totp=True)
    from app import crypto

    seed = crypto.decrypt(user.totp_secret_encrypted)
    assert seed not in user.totp_secret_encrypted
