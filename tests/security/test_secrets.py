"""No secret in logs, error pages, audit entries or the database in plaintext.

One run uses every kind of secret through the real paths — passwords (register, sign in,
change), a TOTP seed (enrol, confirm, sign in with a code), API-form credentials of each
provider (add, edit, a refused edit), a provider notification signed with one of them — while
every log record of every logger is captured at DEBUG.  Then the logs, every page seen, every
audit entry and every text column of every table are searched for each secret.
"""
from __future__ import annotations

import logging
import traceback

import pyotp
import pytest
import sqlalchemy as sa

from app.connectors.payments.base import CREDENTIAL_FIELDS
from app.extensions import db
from app.models import User
from tests.helpers import csrf_from
from tests.provider_sandbox import add_form

PASSWORD = "Sekret-Horse-91"
NEW_PASSWORD = "Fresh-Horse-73!"


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        text = f"{record.name} {record.getMessage()} {record.__dict__}"
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(text)


def _all_text_in_database() -> str:
    chunks = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).all():
            chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def test_secrets_appear_nowhere_in_plaintext(sec_app, providers):
    capture = _Capture()
    loggers = [logging.getLogger(), logging.getLogger("app"), logging.getLogger("werkzeug")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)
    pages: list[str] = []
    secrets = {"password": PASSWORD, "new password": NEW_PASSWORD}
    try:
        client = sec_app.test_client()
        client.environ_base["REMOTE_ADDR"] = "2001:db8::5ec"

        def post(path, data, token_from=None):
            token = csrf_from(client.get(token_from or path).get_data(as_text=True))
            response = client.post(path, data={"csrf_token": token, **data})
            pages.append(response.get_data(as_text=True))
            return response

        # passwords: a refused registration (mismatch), a registration, a wrong sign-in, a sign-in
        post("/register", {"email": "s@example.com", "password": PASSWORD, "confirm": PASSWORD + "x"})
        assert post("/register", {"email": "s@example.com", "password": PASSWORD, "confirm": PASSWORD,
                                  "locale": "ru"}).status_code == 302
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").get_data(as_text=True))})
        post("/login", {"email": "s@example.com", "password": PASSWORD + "typo"})
        assert post("/login", {"email": "s@example.com", "password": PASSWORD}).status_code == 302
        # a TOTP seed: enrol, a wrong code, the right code
        page = client.get("/account/2fa").get_data(as_text=True)
        with sec_app.app_context():
            from app import crypto

            user = db.session.scalar(sa.select(User).where(User.email == "s@example.com"))
            seed = crypto.decrypt(user.totp_secret_encrypted)
        assert seed in page  # shown once, to its owner, on the enrolment page (not kept in the logs below)
        secrets["totp seed"] = seed
        post("/account/2fa", {"code": "000000" if pyotp.TOTP(seed).now() != "000000" else "111111"}, token_from="/account")
        assert post("/account/2fa", {"code": pyotp.TOTP(seed).now()}, token_from="/account").status_code == 302
        # a password change, refused once (wrong current password), then done
        post("/account", {"pw-current": "wrong", "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD,
                          "pw-submit": "1"})
        post("/account", {"pw-current": PASSWORD, "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD,
                          "pw-submit": "1"})
        # API forms of every provider through the services, and one refused through the web
        with sec_app.app_context(), sec_app.test_request_context():
            for kind in CREDENTIAL_FIELDS:
                _, form, credentials = add_form(providers, kind, "s@example.com")
                for spec in CREDENTIAL_FIELDS[kind]:
                    if spec.secret:
                        secrets[f"{kind} {spec.name}"] = credentials[spec.name]
        from tests.security.conftest import sign_in

        with sec_app.app_context():
            owner_id = db.session.scalar(sa.select(User.id).where(User.email == "s@example.com"))
        staff = sec_app.test_client()
        from tests.security.conftest import World

        sign_in(sec_app, staff, "user", World(users={"user": owner_id}))
        token = csrf_from(staff.get("/seller/api-forms/new?kind=tbank").get_data(as_text=True))
        refused = staff.post("/seller/api-forms/new?kind=tbank",
                             data={"csrf_token": token, "name": "x", "terminal_key": "NoSuchTerminal",
                                   "password": "Refused-Secret-555"})
        pages.append(refused.get_data(as_text=True))
        secrets["refused terminal password"] = "Refused-Secret-555"
        for path in ("/seller/api-forms", "/seller/api-forms/1", "/seller/api-forms/2", "/seller/api-forms/3",
                     "/seller/", "/no-such-page"):
            pages.append(staff.get(path).get_data(as_text=True))
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(capture)
            lg.setLevel(level)

    logs = "\n".join(capture.lines)
    assert len(capture.lines) > 10
    with sec_app.app_context():
        stored = _all_text_in_database()
        from app.models.audit import AuditEvent

        audit = "\n".join(repr(e.__dict__) for e in db.session.scalars(sa.select(AuditEvent)))
    assert "auth.login_failed" in audit and "payment_form" in audit
    leaks = [f"{name} in {where}" for name, value in secrets.items()
             for where, text in (("logs", logs), ("database", stored), ("audit", audit))
             if value in text]
    # pages: only the enrolment page may show the seed to its owner
    leaks += [f"{name} on a page" for name, value in secrets.items() if name != "totp seed"
              for page in pages if value in page]
    assert not leaks, leaks


@pytest.mark.server_errors_expected
def test_an_exception_carrying_a_secret_shows_nothing_of_it(sec_app):
    """Does the 500 page stay generic even when the exception's message holds a secret?"""
    from app.web.access import public

    def boom():
        raise RuntimeError("password=Leaky-Secret-1")

    sec_app.add_url_rule("/_secret-boom", endpoint="secret_boom", view_func=public(boom))
    page = sec_app.test_client().get("/_secret-boom")
    assert page.status_code == 500
    body = page.get_data(as_text=True)
    assert "Leaky-Secret-1" not in body and "Traceback" not in body and "RuntimeError" not in body
