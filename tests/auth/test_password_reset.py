"""Password reset by e-mail through a real SMTP server: single-use, expiring, no enumeration, sessions ended."""
from __future__ import annotations

import re
import time
import uuid

import pytest
import sqlalchemy as sa

from app.core.after_commit import get_queue
from app.extensions import db
from app.jobs.accounts import send_password_reset
from app.models import AuditEvent, User
from app.people import password_reset
from tests.helpers import PASSWORD, AuthActions, csrf_from, gen_user
from tests.notifications.conftest import _smtp_server, smtp  # noqa: F401  (fixtures: a real SMTP server)

NEW_PASSWORD = "Fresh-Start-42!"


@pytest.fixture
def mail_app(app_factory, _smtp_server):  # noqa: F811
    return app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=_smtp_server[1], SMTP_STARTTLS=False, SMTP_TIMEOUT=2.0,
                       SMTP_FROM="PokerPay <noreply@pokerpay.test>", PUBLIC_BASE_URL="http://pokerpay.test",
                       LOGIN_RATE_LIMIT="1000 per minute")


def _client(app):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    return client


def _ask(client, email: str):
    token = csrf_from(client.get("/password/forgot").get_data(as_text=True))
    return client.post("/password/forgot", data={"email": email, "csrf_token": token})


def _run_queued_mail_jobs(app) -> int:
    """Run the queued reset-mail jobs as a worker would; how many there were."""
    with app.app_context():
        jobs = [j for j in get_queue().jobs if j.func_name == "app.jobs.accounts.send_password_reset"]
        for queued in jobs:
            send_password_reset(*queued.args)
            queued.delete()
    return len(jobs)


def _link_in(mail) -> str:
    return re.search(r"http://pokerpay\.test(/password/reset/\S+)", mail.get_content()).group(1)


def _set_password(client, path: str, password: str = NEW_PASSWORD):
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(path, data={"password": password, "confirm": password,
                                   "csrf_token": csrf_from(page.get_data(as_text=True))})


def test_reset_by_e_mail_ends_every_session_and_the_link_works_once(mail_app, smtp):  # noqa: F811
    """Does the mailed link set a new password once, end the sessions signed in before, and then die?"""
    app = mail_app
    with app.app_context():
        gen_user(locale="en")
    login_page = _client(app).get("/login").get_data(as_text=True)
    assert '<a href="/password/forgot">Забыли пароль?</a>' in login_page
    laptop = _client(app)
    assert AuthActions(laptop, app).login().status_code == 302
    answer = _ask(_client(app), "User@Example.com ")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")
    assert _run_queued_mail_jobs(app) == 1
    [(to, mail)] = smtp.messages
    assert to == ["user@example.com"] and mail["Subject"] == "Reset your PokerPay password"
    path = _link_in(mail)
    browser = _client(app)
    assert "Выберите новый пароль" in browser.get(path).get_data(as_text=True)
    assert _set_password(browser, path).status_code == 302
    assert laptop.get("/account").status_code == 302  # the session from before the reset is over
    assert _set_password(_client(app), path, "Another-Pass-77!").status_code == 400  # used: dead
    assert AuthActions(_client(app), app).login(password=PASSWORD).status_code == 200
    assert AuthActions(_client(app), app).login(password=NEW_PASSWORD).status_code == 302
    with app.app_context():
        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
        assert {"auth.password_reset_requested", "auth.password_reset"} <= actions


def test_the_same_answer_whether_or_not_the_account_exists(mail_app, smtp):  # noqa: F811
    """Are the page, the flash and the work the same for a registered and an unknown e-mail (only one mail)?"""
    app = mail_app
    with app.app_context():
        gen_user()
    answers, pages, timings = [], [], {}
    for email in ("user@example.com", "nobody@example.com"):
        client = _client(app)
        started = time.perf_counter()
        response = _ask(client, email)
        timings[email] = time.perf_counter() - started
        answers.append((response.status_code, response.headers["Location"]))
        page = client.get("/login").get_data(as_text=True)
        pages.append(re.sub(r'[\w-]{20,}\.[\w-]+\.[\w-]+', "<csrf>", page))  # the CSRF tokens differ, rightly
    assert answers[0] == answers[1]
    assert pages[0] == pages[1] and "Если учётная запись с этой эл. почтой существует" in pages[0]
    assert _run_queued_mail_jobs(app) == 1 and len(smtp.messages) == 1
    # No argon2 on either path: both are a look-up, an audit row and a commit (a few ms apart at most).
    assert abs(timings["user@example.com"] - timings["nobody@example.com"]) < 0.25, timings


def test_a_link_from_before_a_password_change_or_too_old_is_dead(mail_app):
    """Does a password change kill a link issued before it, and does a link expire?"""
    app = mail_app
    with app.app_context(), app.test_request_context():
        user = gen_user()
        before_change = password_reset.make_token(user)
        user.password_hash = password_reset.accounts.hash_password("Changed-Meanwhile-5")
        db.session.commit()
        current = password_reset.make_token(db.session.get(User, user.id))
    assert _set_password(_client(app), f"/password/reset/{before_change}").status_code == 400
    assert _set_password(_client(app), "/password/reset/forged.link.value").status_code == 400
    app.config["PASSWORD_RESET_MAX_AGE"] = 0
    time.sleep(1.1)
    assert _set_password(_client(app), f"/password/reset/{current}").status_code == 400
    app.config["PASSWORD_RESET_MAX_AGE"] = 3600
    assert _set_password(_client(app), f"/password/reset/{current}").status_code == 302


def test_a_weak_new_password_is_refused_and_the_link_still_works(mail_app):
    """Does a weak password give a form error, change nothing, and leave the link usable?"""
    app = mail_app
    with app.app_context(), app.test_request_context():
        token = password_reset.make_token(gen_user())
    path = f"/password/reset/{token}"
    client = _client(app)
    weak = _set_password(client, path, "short")
    assert weak.status_code == 200 and "Пароль слишком простой" in weak.get_data(as_text=True)
    assert _set_password(client, path).status_code == 302


def test_requests_are_rate_limited_and_mail_bombing_is_cut(app_factory, _smtp_server, smtp):  # noqa: F811
    """Is the request limited per address, and is one address sent one mail per interval however often asked?"""
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=_smtp_server[1], SMTP_STARTTLS=False,
                      PASSWORD_RESET_RATE_LIMIT="3 per minute")
    with app.app_context():
        gen_user()
    client = _client(app)
    assert [_ask(client, "user@example.com").status_code for _ in range(4)] == [302, 302, 302, 429]
    for _ in range(3):
        assert _ask(_client(app), "user@example.com").status_code == 302  # from other addresses
    assert _run_queued_mail_jobs(app) == 1


def test_a_reset_lifts_the_sign_in_slow_down(mail_app):
    """After failed sign-ins block the account, does a reset let the owner straight in (never a lock-out)?"""
    app = mail_app
    app.config.update(LOGIN_SLOWDOWN_FREE_FAILURES=2, LOGIN_SLOWDOWN_BASE_SECONDS=600)
    with app.app_context(), app.test_request_context():
        token = password_reset.make_token(gen_user())
    attacker = _client(app)
    for i in range(2):
        AuthActions(attacker, app).login(password=f"Guess-{i}-x")
    assert AuthActions(_client(app), app).login().status_code == 429
    assert _set_password(_client(app), f"/password/reset/{token}").status_code == 302
    assert AuthActions(_client(app), app).login(password=NEW_PASSWORD).status_code == 302


def test_a_nul_byte_in_the_e_mail_is_refused_not_a_500(mail_app):
    """Do sign-in and the reset request refuse a NUL or a header-injecting line break in the e-mail, writing nothing?

    A NUL is refused at the edge for every field (app/web/input_guard.py: a 400 that says why); a CR/LF, which
    multi-line fields may carry, is the e-mail field's own form error.
    """
    client = _client(mail_app)
    for path, extra in (("/login", {"password": "Whatever-1x"}), ("/password/forgot", {})):
        for email in ("user\x00@example.com", "user@example.com\r\nBcc: x@evil.example"):
            token = csrf_from(client.get(path).get_data(as_text=True))
            response = client.post(path, data={"email": email, "csrf_token": token, **extra})
            if "\x00" in email:
                assert response.status_code == 400, (path, repr(email))
            else:
                assert response.status_code == 200, (path, repr(email))
                assert "Введите правильный адрес" in response.get_data(as_text=True)
    with mail_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0  # nothing written


def test_one_link_used_at_once_from_many_browsers_resets_once(mail_app, database):
    """8 simultaneous uses of one link on PostgreSQL: exactly one sets its password, the others are refused."""
    if database.kind != "postgresql":
        pytest.skip("row-lock concurrency is a PostgreSQL matter (SQLite serialises every write transaction)")
    import threading

    app = mail_app
    with app.app_context(), app.test_request_context():
        token = password_reset.make_token(gen_user())
    path = f"/password/reset/{token}"
    browsers = [_client(app) for _ in range(8)]
    tokens = [csrf_from(b.get(path).get_data(as_text=True)) for b in browsers]
    barrier, results, lock = threading.Barrier(len(browsers)), {}, threading.Lock()

    def use(n: int) -> None:
        password = f"Racer-{n}-Pass-99!"
        barrier.wait()
        status = browsers[n].post(path, data={"password": password, "confirm": password,
                                              "csrf_token": tokens[n]}).status_code
        with lock:
            results[n] = status

    threads = [threading.Thread(target=use, args=(n,)) for n in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [n for n, status in results.items() if status == 302]
    assert len(winners) == 1 and sorted(results.values()) == [302] + [400] * (len(browsers) - 1)
    assert AuthActions(_client(app), app).login(password=f"Racer-{winners[0]}-Pass-99!").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "auth.password_reset")) == 1
