"""Pooled connections are checked only after sitting idle (app.database.ping_when_idle).

``pool_pre_ping`` cost a round trip per request and per job; the idle-only
ping keeps its protection where it matters (a connection left in the pool
while the server restarted or a firewall dropped it) without that cost.
"""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.helpers import own_backend_pid, terminate_backend


def _count_pings(monkeypatch, app) -> list[int]:
    calls = []
    with app.app_context():
        dialect = db.engine.dialect
    real = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda conn: calls.append(1) or real(conn))
    return calls


def _one_request(app) -> int:
    """A unit of work as a request or job does it: check out, query, give the connection back."""
    with app.app_context():
        value = db.session.execute(sa.text("SELECT 1")).scalar()
        db.session.commit()
    return value


def test_a_connection_back_from_work_a_moment_ago_is_not_pinged(app_factory, monkeypatch):
    app = app_factory(DB_PING_IDLE_SECONDS=3600)
    pings = _count_pings(monkeypatch, app)
    assert [_one_request(app) for _ in range(5)] == [1] * 5
    assert pings == []


def test_a_connection_idle_longer_than_the_limit_is_pinged_before_use(app_factory, monkeypatch):
    app = app_factory(DB_PING_IDLE_SECONDS=0.05)
    pings = _count_pings(monkeypatch, app)
    _one_request(app)  # a new connection needs no ping
    assert pings == []
    time.sleep(0.1)
    assert _one_request(app) == 1
    assert pings == [1]


def test_an_idle_connection_the_server_dropped_is_replaced_before_anyone_uses_it(app_factory, database):
    if database.kind != "postgresql":
        pytest.skip("a dropped server connection is a PostgreSQL matter")
    app = app_factory(DB_PING_IDLE_SECONDS=0.05)
    with app.app_context():
        before = own_backend_pid()
        db.session.commit()
    assert terminate_backend(app.config["SQLALCHEMY_DATABASE_URI"], before)
    time.sleep(0.1)
    with app.app_context():  # the request sees no error: the ping found the dead connection first
        after = own_backend_pid()
        db.session.commit()
    assert after != before


@pytest.mark.server_errors_expected
def test_a_request_whose_connection_dies_under_it_gets_a_503_to_retry_not_a_500(app_factory, database):
    if database.kind != "postgresql":
        pytest.skip("a dropped server connection is a PostgreSQL matter")
    from app.web.access import public

    app = app_factory()

    @public
    def dropped_mid_request():
        terminate_backend(app.config["SQLALCHEMY_DATABASE_URI"], own_backend_pid())
        db.session.execute(sa.text("SELECT 1"))  # the server is gone from under this connection
        return "unreachable"

    app.add_url_rule("/_test/dropped-mid-request", view_func=dropped_mid_request)
    client = app.test_client()
    response = client.get("/_test/dropped-mid-request", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"]
    with app.app_context():  # and the next unit of work has a live connection
        assert db.session.execute(sa.text("SELECT 1")).scalar() == 1


def test_an_idle_connection_found_dead_renews_the_whole_pool(app_factory, database):
    """A dead idle connection means the server went away: its pool-mates are replaced too (as pool_pre_ping did)."""
    if database.kind != "postgresql":
        pytest.skip("a dropped server connection is a PostgreSQL matter")
    app = app_factory(DB_PING_IDLE_SECONDS=0.05)
    with app.app_context():
        with db.engine.connect() as one, db.engine.connect() as two:
            pids = {own_backend_pid(c) for c in (one, two)}
        terminate_backend(app.config["SQLALCHEMY_DATABASE_URI"], min(pids))  # only one of them dies
        time.sleep(0.1)
        for _ in range(2):  # one at a time: the dead one is found by its ping at one of these checkouts
            with db.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        with db.engine.connect() as one, db.engine.connect() as two:
            after = {own_backend_pid(c) for c in (one, two)}
    assert not after & pids  # the live pool-mate was replaced as well


@pytest.mark.server_errors_expected
def test_the_503_page_for_a_signed_in_user_renders_or_falls_back_but_always_says_retry(app_factory, database):
    """The HTML 503 (the menu reads the user) after the connection died under a signed-in user's request."""
    if database.kind != "postgresql":
        pytest.skip("a dropped server connection is a PostgreSQL matter")
    from app.web.access import public
    from tests.helpers import PASSWORD, csrf_from, gen_user

    app = app_factory()
    with app.app_context():
        gen_user(email="someone@example.com")
        db.session.commit()

    @public
    def dropped_mid_request():
        terminate_backend(app.config["SQLALCHEMY_DATABASE_URI"], own_backend_pid())
        db.session.execute(sa.text("SELECT 1"))
        return "unreachable"

    app.add_url_rule("/_test/dropped-html", view_func=dropped_mid_request)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": "someone@example.com", "password": PASSWORD, "csrf_token": csrf_from(page)})
    response = client.get("/_test/dropped-html")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
