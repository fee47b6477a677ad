"""The per-account sign-in slow-down: bounded, not a lock-out, the owner told once, concurrency-proof on PostgreSQL."""
from __future__ import annotations

import re
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from app.database import utcnow
from app.extensions import db
from app.jobs.notifications import deliver_now
from app.models import AuditEvent, User
from app.models.account_security import LoginThrottle
from app.models.notification import Notification, NotificationDelivery
from app.people import login_slowdown
from tests.helpers import PASSWORD, AuthActions, csrf_from, gen_user, totp_now
from tests.notifications.conftest import _smtp_server, smtp  # noqa: F401  (fixtures: a real SMTP server)

FREE = 3
#: a block of 1 s, doubling up to 2 s: long enough to see, short enough to wait out in a test
FAST = {"LOGIN_SLOWDOWN_FREE_FAILURES": FREE, "LOGIN_SLOWDOWN_BASE_SECONDS": 1, "LOGIN_SLOWDOWN_MAX_SECONDS": 2,
        "LOGIN_RATE_LIMIT": "1000 per minute"}


def _client(app):
    """A browser of its own, from an address of its own (the per-address limit is not what is tested here)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    return client


def _post_login(client, password: str, email: str = "user@example.com", token: str | None = None):
    token = token or csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def _count(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def _notices() -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.kind == "login_failures")))


def _wait_out_the_block(app, email: str = "user@example.com") -> float:
    """Sleep until the account's block is over; how long that was."""
    with app.app_context():
        row = db.session.get(LoginThrottle, login_slowdown.email_key(email))
        wait = (row.blocked_until - utcnow()).total_seconds() if row.blocked_until else 0.0
    time.sleep(max(wait, 0) + 0.05)
    return wait


def test_the_account_is_slowed_down_and_the_owner_gets_in_after_the_bounded_wait(app_factory):
    """After the free failures is even the right password refused for a while — and accepted once the wait is over?"""
    app = app_factory(**FAST)
    with app.app_context():
        user_id = gen_user().id
    attacker, owner = _client(app), _client(app)
    assert [_post_login(attacker, f"Guess-{i}-x").status_code for i in range(FREE)] == [200] * FREE
    refused = _post_login(owner, PASSWORD)
    assert refused.status_code == 429
    assert "Слишком много неудачных попыток входа" in refused.get_data(as_text=True)
    assert owner.get("/account").status_code == 302  # not signed in
    with app.app_context():
        assert _count("auth.login_failed") == FREE and _count("auth.login_slowed") == 1
        [notice] = _notices()
        assert notice.user_id == user_id and notice.params == {"failures": FREE}
    waited = _wait_out_the_block(app)
    assert 0 < waited <= 1.0
    assert _post_login(owner, PASSWORD).status_code == 302
    assert owner.get("/account").status_code == 200
    with app.app_context():
        row = db.session.get(LoginThrottle, login_slowdown.email_key("user@example.com"))
        assert (row.failures, row.blocked_until) == (0, None)  # success forgets the failures
    # A new episode after the success is a new window: the owner is told again, once.
    for i in range(FREE + 2):
        _post_login(attacker, f"Later-{i}-x")
    with app.app_context():
        assert len(_notices()) == 2


def test_the_wait_doubles_and_is_bounded(app_ctx):
    """Does each failure past the free ones double the wait, never beyond the cap (never a permanent lock-out)?"""
    free, base, cap = login_slowdown.FREE_FAILURES, login_slowdown.BASE_SECONDS, login_slowdown.MAX_SECONDS
    assert [login_slowdown.delay_after(n) for n in range(free)] == [0] * free
    assert [login_slowdown.delay_after(free + n) for n in range(3)] == [base, 2 * base, 4 * base]
    assert login_slowdown.delay_after(10_000) == cap == 15 * 60


def test_a_blocked_attempt_does_not_extend_the_block(app_factory):
    """Can an attacker keep hammering during the block to push it out? (Refused attempts are not counted.)"""
    app = app_factory(**FAST)
    with app.app_context():
        gen_user()
    attacker = _client(app)
    token = csrf_from(attacker.get("/login").get_data(as_text=True))
    for i in range(FREE):
        _post_login(attacker, f"Guess-{i}-x", token=token)
    assert {_post_login(attacker, f"More-{i}-x", token=token).status_code for i in range(10)} == {429}
    with app.app_context():
        assert db.session.get(LoginThrottle, login_slowdown.email_key("user@example.com")).failures == FREE
    _wait_out_the_block(app)
    assert _post_login(_client(app), PASSWORD).status_code == 302


def test_an_unknown_email_is_slowed_down_the_same_way(app_factory):
    """Does an address without an account answer exactly like a registered one (no enumeration), telling nobody?"""
    # a block this test never waits out: one of 1 s could end before the next attempt on a busy machine
    app = app_factory(**{**FAST, "LOGIN_SLOWDOWN_BASE_SECONDS": 30, "LOGIN_SLOWDOWN_MAX_SECONDS": 60})
    with app.app_context():
        gen_user()
    pages = {}
    for email in ("user@example.com", "nobody@example.com"):
        client = _client(app)
        codes = [_post_login(client, f"Guess-{i}-x", email=email).status_code for i in range(FREE + 1)]
        assert codes == [200] * FREE + [429], email
        pages[email] = _post_login(client, "Guess-x", email=email).get_data(as_text=True)
    assert all(re.search(r"Попробуйте снова через (29|30) с", page) for page in pages.values())
    with app.app_context():
        assert len(_notices()) == 1  # the registered owner only


def test_the_owners_known_device_gets_one_try_during_a_block(app_factory):
    """From a browser where the owner signed in before, does the right password work during a block — once?"""
    app = app_factory(**{**FAST, "LOGIN_SLOWDOWN_BASE_SECONDS": 60, "LOGIN_SLOWDOWN_MAX_SECONDS": 60})
    with app.app_context():
        gen_user()
    owner = _client(app)
    assert AuthActions(owner, app).login().status_code == 302
    assert owner.get_cookie("known_device") is not None
    AuthActions(owner, app).logout()
    attacker = _client(app)
    for i in range(FREE):
        _post_login(attacker, f"Guess-{i}-x")
    assert _post_login(attacker, PASSWORD).status_code == 429  # the password alone, from elsewhere: wait
    # A typo on the owner's browser uses its one try; the next attempt waits like everyone's.
    assert _post_login(owner, "Typo-in-the-password-1").status_code == 200
    assert _post_login(owner, PASSWORD).status_code == 429
    # The typo counted and renewed the block; the device's one try stays spent until the block ends.
    assert _post_login(owner, PASSWORD).status_code == 429
    with app.app_context():
        row = db.session.get(LoginThrottle, login_slowdown.email_key("user@example.com"))
        row.blocked_until = row.blocked_until.replace(year=2000)  # the block ends (as 60 s later)
        db.session.commit()
    for i in range(FREE + 2):
        _post_login(attacker, f"Again-{i}-x")
    assert _post_login(attacker, PASSWORD).status_code == 429
    assert _post_login(owner, PASSWORD).status_code == 302


def test_a_stolen_known_device_cookie_is_dead_after_a_password_change(app_factory):
    """Is the known-device cookie bound to the password (a change makes it worthless)?"""
    app = app_factory(**{**FAST, "LOGIN_SLOWDOWN_BASE_SECONDS": 60, "LOGIN_SLOWDOWN_MAX_SECONDS": 60})
    with app.app_context():
        gen_user()
    owner = _client(app)
    AuthActions(owner, app).login()
    stolen = owner.get_cookie("known_device").value
    token = AuthActions(owner, app).csrf("/account")
    new_password = "Brand-New-Pass-2"
    assert owner.post("/account", data={"pw-current": PASSWORD, "pw-password": new_password,
                                        "pw-confirm": new_password, "pw-submit": "1",
                                        "csrf_token": token}).status_code == 302
    thief = _client(app)
    thief.set_cookie("known_device", stolen, domain="localhost")
    for i in range(FREE):
        _post_login(thief, f"Guess-{i}-x")
    assert _post_login(thief, new_password).status_code == 429


def test_wrong_codes_count_like_wrong_passwords(app_factory):
    """Is the 2FA step behind the same slow-down (codes cannot be guessed from many addresses)?"""
    app = app_factory(**{**FAST, "LOGIN_SLOWDOWN_BASE_SECONDS": 60, "LOGIN_SLOWDOWN_MAX_SECONDS": 60})
    with app.app_context():
        user = gen_user(totp=True)
        user_id, code = user.id, totp_now(user)
    client = _client(app)
    assert "/login/2fa" in _post_login(client, PASSWORD).headers["Location"]
    token = csrf_from(client.get("/login/2fa").get_data(as_text=True))
    wrong = [c for c in ("000000", "111111", "222222", "333333") if c != code][:FREE]
    codes = [client.post("/login/2fa", data={"code": c, "csrf_token": token}).status_code for c in wrong]
    assert codes == [200] * FREE
    blocked = client.post("/login/2fa", data={"code": code, "csrf_token": token})
    assert blocked.status_code == 429
    with app.app_context():
        assert db.session.get(User, user_id).last_login_at is None
        assert _count("auth.2fa_failed") == FREE and len(_notices()) == 1


def test_concurrent_wrong_passwords_cannot_beat_the_slow_down_and_the_owner_is_told_once(
        app_factory, database, smtp, _smtp_server):  # noqa: F811
    """20 simultaneous wrong passwords from 20 addresses on PostgreSQL: exactly FREE are checked, one e-mail goes out."""
    if database.kind != "postgresql":
        pytest.skip("row-lock concurrency is a PostgreSQL matter (SQLite serialises every write transaction)")
    threads = 20
    # A 3 s block: long enough that no queued attempt outlives it on a loaded machine, short enough to wait out.
    app = app_factory(**{**FAST, "LOGIN_SLOWDOWN_BASE_SECONDS": 3, "LOGIN_SLOWDOWN_MAX_SECONDS": 3},
                      SMTP_HOST="127.0.0.1", SMTP_PORT=_smtp_server[1], SMTP_STARTTLS=False, SMTP_TIMEOUT=2.0,
                      SMTP_FROM="PokerPay <noreply@pokerpay.test>", NOTIFY_RETRY_BASE_SECONDS=0)
    with app.app_context():
        email = gen_user(locale="en").email
    clients = [_client(app) for _ in range(threads)]
    tokens = [csrf_from(c.get("/login").get_data(as_text=True)) for c in clients]
    barrier = threading.Barrier(threads)
    codes: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        barrier.wait()
        status = _post_login(clients[n], f"Guess-{n}-wrong", token=tokens[n]).status_code
        with lock:
            codes.append(status)

    workers = [threading.Thread(target=guess, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert sorted(codes) == [200] * FREE + [429] * (threads - FREE)
    with app.app_context():
        assert _count("auth.login_failed") == FREE  # no more passwords were even checked
        assert _count("auth.login_slowed") == threads - FREE
        [notice] = _notices()
        deliveries = list(db.session.scalars(sa.select(NotificationDelivery)
                                             .where(NotificationDelivery.notification_id == notice.id)))
        assert [d.channel for d in deliveries] == ["email"]  # e-mailed though the user chose no channel
        assert deliver_now(deliveries[0].id) == "sent"
        assert deliver_now(deliveries[0].id) == "not due"
    [(to, mail)] = smtp.messages
    assert to == [email] and mail["Subject"] == "Failed sign-ins to your account"
    _wait_out_the_block(app)
    assert _post_login(_client(app), PASSWORD).status_code == 302

