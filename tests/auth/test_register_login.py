"""Registration, sign-in, sign-out and password change through the real forms."""
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, User
from tests.helpers import PASSWORD, csrf_from, gen_user


def _register(client, email="new@example.com", password=PASSWORD, confirm=None, locale="ru"):
    token = csrf_from(client.get("/register").get_data(as_text=True))
    return client.post("/register", data={
        "email": email, "password": password, "confirm": confirm or password, "locale": locale, "csrf_token": token,
    })


def test_register_creates_a_user_and_signs_in(client, app):
    """Does a good registration create exactly one user, hashed password, and sign them in?"""
    response = _register(client)
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "new@example.com"))
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
    assert client.get("/").status_code == 200


def test_register_rejects_bad_input_and_writes_nothing(client, app):
    """Do a bad e-mail, a weak password, a mismatch and a taken e-mail each give a message and no row?"""
    with app.app_context():
        gen_user("taken@example.com")
    cases = [
        ({"email": "not-an-email"}, "Введите правильный адрес"),
        ({"password": "short"}, "Пароль слишком простой"),
        ({"password": "alllowercaseletters"}, "три из"),
        ({"confirm": "Something-Else-9"}, "Пароли не совпадают"),
        ({"email": "taken@example.com"}, "уже существует"),
    ]
    for overrides, message in cases:
        response = _register(client, **overrides)
        assert response.status_code == 200, overrides
        assert message in response.get_data(as_text=True), overrides
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_login_with_right_and_wrong_password(client, app, auth):
    """Does the right password sign in, and a wrong one give a message and an audit entry?"""
    with app.app_context():
        gen_user()
    bad = auth.login(password="Wrong-Password-1")
    assert bad.status_code == 200
    assert "Неверная эл. почта или пароль" in bad.get_data(as_text=True)
    good = auth.login()
    assert good.status_code == 302
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["auth.login_failed", "auth.login"]


def test_unknown_email_fails_like_a_wrong_password(client, app, auth):
    """Does an unknown e-mail get the same message (no account enumeration)?"""
    response = auth.login("nobody@example.com")
    assert "Неверная эл. почта или пароль" in response.get_data(as_text=True)


def test_session_id_changes_at_login(client, app, auth):
    """Is a session value planted before login gone afterwards (session fixation)?"""
    with app.app_context():
        gen_user()
    with client.session_transaction() as s:
        s["planted"] = "attacker"
    auth.login()
    with client.session_transaction() as s:
        assert "planted" not in s
        assert s.get("_user_id")


def test_logout_invalidates_the_old_cookie(client, app, auth):
    """After logout, does a copy of the old session cookie stop working?"""
    with app.app_context():
        gen_user()
    auth.login()
    stolen = client.get_cookie("session").value
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/account")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_change_password_signs_out_and_new_password_works(client, app, auth):
    """Does a password change end the session and make the new password the only one?"""
    with app.app_context():
        gen_user()
    auth.login()
    token = auth.csrf("/account")
    response = client.post("/account", data={
        "pw-current": PASSWORD, "pw-password": "Brand-New-Pass-2", "pw-confirm": "Brand-New-Pass-2",
        "pw-submit": "1", "csrf_token": token,
    })
    assert response.status_code == 302
    assert client.get("/account").status_code == 302
    assert auth.login(password=PASSWORD).status_code == 200
    assert auth.login(password="Brand-New-Pass-2").status_code == 302


def test_open_redirect_after_login_is_refused(client, app, auth):
    """Does ?next= to another site fall back to the home page?"""
    with app.app_context():
        gen_user()
    token = auth.csrf("/login")
    response = client.post("/login?next=//evil.example/x", data={
        "email": "user@example.com", "password": PASSWORD, "csrf_token": token,
    })
    assert response.headers["Location"] == "/"
