"""The push process (app/web/push): over real HTTP, a watching page is told when its invoice changed, and
nobody is told anything their session no longer allows.

The server runs in a thread of the test (tests/push_server.py) over the same
app and database; the page is a ``requests`` stream with the session cookie a
real sign-in set.  An event carries no status, so the tests also fetch the
fragment the page would then ask for.
"""
from __future__ import annotations

import re
import time
from importlib.metadata import version

import pytest
import requests
import sqlalchemy as sa

from app.extensions import db
from app.market import invoices, matching
from app.models import User
from app.people import accounts
from app.web.deposits import polling
from app.web.push.watchers import CHANGED, GONE, Full, Registry, Watcher
from tests.helpers import PASSWORD, AuthActions, csrf_from
from tests.push_server import PushServer, push_server

HTMX = {"HX-Request": "true"}
#: what the test client sends as its browser: the push server must see the same one (Flask-Login's identifier)
USER_AGENT = f"Werkzeug/{version('werkzeug')}"
APP_ORIGIN = "http://127.0.0.1:9"  # market_app's PUBLIC_BASE_URL
TICK = 0.1


def _watching(market_app, market_web):
    """A signed-in buyer's client, their open invoice's id and the fragment the page shows."""
    def setup(m):
        m.seller("seller@example.com", "tbank")
        m.buyer("other@example.com")
        deposit = m.deposit(m.buyer("buyer@example.com"), "tbank", 1_000_00)
        matching.match(deposit.id)
        return deposit.id

    deposit_id = market_web(setup)
    client = market_app.test_client()
    AuthActions(client, market_app).login("buyer@example.com")
    fragment = client.get(f"/buy/{deposit_id}", headers=HTMX).get_data(as_text=True)
    return client, deposit_id, fragment


def _shown(fragment: str) -> str:
    return re.search(r"\?v=([0-9a-f]{16})", fragment).group(1)


def _listen(base, deposit_id, v, cookie=None, **headers):
    cookies = {"session": cookie} if cookie else {}
    return requests.get(f"{base}/push/deposits/{deposit_id}", params={"v": v}, cookies=cookies, stream=True,
                        timeout=5, headers={"User-Agent": USER_AGENT, **headers})


def _next_event(response, within: float = 5.0) -> str | None:
    """The stream's next event name, or None if the server closed it without one."""
    deadline = time.monotonic() + within
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            return line.removeprefix("event: ")
        assert time.monotonic() < deadline, "no event in time"
    return None


def _watchers(base) -> int:
    return requests.get(f"{base}/push/health", timeout=5).json()["watchers"]


def _until(condition, within=5.0):
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_transition_is_pushed_within_a_tick_and_the_page_then_fetches_it(market_web, market_app):
    client, deposit_id, fragment = _watching(market_app, market_web)
    cookie = client.get_cookie("session").value
    with push_server(market_app, PUSH_TICK_SECONDS=TICK) as base:
        stream = _listen(base, deposit_id, _shown(fragment), cookie, Origin=APP_ORIGIN)
        assert stream.status_code == 200
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert stream.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert stream.headers["Access-Control-Allow-Credentials"] == "true"
        _until(lambda: _watchers(base) == 1)
        time.sleep(3 * TICK)  # ticks pass, nothing changed: nothing said
        assert _watchers(base) == 1
        changed_at = time.monotonic()
        market_web(lambda m: invoices.expire(deposit_id))
        assert _next_event(stream) == CHANGED
        assert time.monotonic() - changed_at < 10 * TICK + 1
        assert _next_event(stream) is None  # one event, then the server closes the stream
        _until(lambda: _watchers(base) == 0)
    # what the page does next: its poll, through the app
    shown = client.get(f"/buy/{deposit_id}?v={_shown(fragment)}", headers=HTMX)
    assert shown.status_code == 200 and 'data-status="expired"' in shown.get_data(as_text=True)


def test_a_page_that_changed_before_it_connected_is_told_at_once(market_web, market_app):
    client, deposit_id, fragment = _watching(market_app, market_web)
    market_web(lambda m: invoices.expire(deposit_id))
    with push_server(market_app, PUSH_TICK_SECONDS=60) as base:  # no tick: the connection itself tells
        stream = _listen(base, deposit_id, _shown(fragment), client.get_cookie("session").value)
        assert _next_event(stream, within=2) == CHANGED


def test_the_claim_changes_what_the_page_shows_and_is_pushed(market_web, market_app):
    """A change that keeps the status (the buyer said they paid, on another tab) is pushed too."""
    client, deposit_id, fragment = _watching(market_app, market_web)
    with push_server(market_app, PUSH_TICK_SECONDS=TICK) as base:
        stream = _listen(base, deposit_id, _shown(fragment), client.get_cookie("session").value)
        _until(lambda: _watchers(base) == 1)
        client.post(f"/buy/{deposit_id}/paid", data={"csrf_token": csrf_from(fragment)})
        assert _next_event(stream) == CHANGED


@pytest.mark.parametrize("how", ["logout", "password", "freeze"])
def test_a_session_that_ended_is_told_gone_and_cut_off(market_web, market_app, how):
    client, deposit_id, fragment = _watching(market_app, market_web)
    cookie = client.get_cookie("session").value
    with push_server(market_app, PUSH_TICK_SECONDS=TICK) as base:
        stream = _listen(base, deposit_id, _shown(fragment), cookie)
        _until(lambda: _watchers(base) == 1)
        if how == "logout":
            client.post("/logout", data={"csrf_token": csrf_from(fragment)})
        elif how == "password":
            def change(m):
                user = db.session.scalar(sa.select(User).where(User.email == "buyer@example.com"))
                accounts.change_password(user, PASSWORD, "An0ther-long-Passphrase!")
            market_web(change)
        else:
            market_web(lambda m: db.session.execute(
                sa.update(User).where(User.email == "buyer@example.com").values(is_frozen=True)))
        assert _next_event(stream) == GONE
        # and the old cookie opens no new connection
        assert _listen(base, deposit_id, _shown(fragment), cookie).status_code == 401


def test_refusals(market_web, market_app):
    """No session, someone else's deposit, a malformed fingerprint, another site's page, too many tabs."""
    client, deposit_id, fragment = _watching(market_app, market_web)
    cookie, v = client.get_cookie("session").value, _shown(fragment)
    other = market_app.test_client()
    AuthActions(other, market_app).login("other@example.com")
    with push_server(market_app, PUSH_TICK_SECONDS=TICK, PUSH_WATCHERS_PER_USER=2) as base:
        assert _listen(base, deposit_id, v).status_code == 401
        assert _listen(base, deposit_id, v, "forged." + cookie[7:]).status_code == 401
        assert _listen(base, deposit_id, v, other.get_cookie("session").value).status_code == 404
        assert _listen(base, deposit_id + 1000, v, cookie).status_code == 404
        assert _listen(base, deposit_id, "not-hex", cookie).status_code == 400
        refused = _listen(base, deposit_id, v, cookie, Origin="https://evil.example")
        assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
        # another browser: Flask-Login's session protection would not keep the session as it is
        assert _listen(base, deposit_id, v, cookie, **{"User-Agent": "another browser"}).status_code == 401
        open_ones = [_listen(base, deposit_id, v, cookie) for _n in range(2)]
        assert all(r.status_code == 200 for r in open_ones)
        _until(lambda: _watchers(base) == 2)
        assert _listen(base, deposit_id, v, cookie).status_code == 429
        for r in open_ones:
            r.close()
        _until(lambda: _watchers(base) == 0)  # a closed page frees its place at once
        assert _listen(base, deposit_id, v, cookie).status_code == 200


def test_the_page_carries_its_push_address_and_may_connect_to_it(market_web, market_app):
    """With PUSH_URL set the fragment names its stream, and the page's policy lets it connect there."""
    client, deposit_id, fragment = _watching(market_app, market_web)
    assert "data-push" not in fragment  # not configured: the page polls
    market_app.config["PUSH_URL"] = "http://127.0.0.1:5002"
    try:
        page = client.get(f"/buy/{deposit_id}")
        text = page.get_data(as_text=True)
        v = _shown(text)
        assert f'data-push="http://127.0.0.1:5002/push/deposits/{deposit_id}?v={v}"' in text
        assert f'hx-trigger="{polling.POLL_TRIGGER}"' in text
    finally:
        market_app.config["PUSH_URL"] = ""


def test_the_page_policy_allows_the_push_origin_only_when_configured(app_factory):
    pushed = app_factory(PUSH_URL="https://push.example.com")
    csp = pushed.test_client().get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self' https://push.example.com" in csp
    plain = app_factory().test_client().get("/").headers["Content-Security-Policy"]
    assert "connect-src" not in plain


def test_a_tick_that_cannot_read_drops_every_stream_so_the_pages_poll(market_web, market_app):
    """The database read fails (the read made to fail here: a fault injected into the push server's own
    feed): the stream ends without an event, which makes the browser poll and reconnect."""
    from app.web.push.server import FEED_KEY

    client, deposit_id, fragment = _watching(market_app, market_web)
    server = PushServer(market_app, PUSH_TICK_SECONDS=TICK).start()
    try:
        stream = _listen(server.url, deposit_id, _shown(fragment), client.get_cookie("session").value)
        _until(lambda: _watchers(server.url) == 1)

        def unreachable(ids):
            raise OSError("the database is unreachable")

        server.app[FEED_KEY].rows = unreachable
        assert _next_event(stream) is None  # closed, no event
        _until(lambda: _watchers(server.url) == 0)
    finally:
        server.stop()


# --- the registry's rules, without a network ---------------------------------------------------

class _Row:
    def __init__(self, buyer_id=1, token="t", frozen=False, version="a" * 16):
        self.buyer_id, self.session_token, self.is_frozen, self.version = buyer_id, token, frozen, version


def test_the_registry_tells_each_watcher_only_what_concerns_it():
    registry = Registry(per_user=5, total=10)
    same = Watcher(deposit_id=1, user_id=1, token="t", shown="a" * 16)
    stale = Watcher(deposit_id=1, user_id=1, token="t", shown="b" * 16)
    old_session = Watcher(deposit_id=1, user_id=1, token="old", shown="a" * 16)
    vanished = Watcher(deposit_id=2, user_id=1, token="t", shown="a" * 16)
    for w in (same, stale, old_session, vanished):
        registry.add(w)
    now = time.monotonic()
    told = dict(registry.verdicts([1, 2], {1: _Row()}, lambda row: row.version, now))
    assert told == {stale: CHANGED, old_session: GONE, vanished: GONE}
    frozen = dict(registry.verdicts([1, 2], {1: _Row(frozen=True), 2: _Row()}, lambda row: row.version, now))
    assert set(frozen.values()) == {GONE} and len(frozen) == 3 and vanished not in frozen
    someone_else = dict(registry.verdicts([1, 2], {1: _Row(buyer_id=7), 2: _Row()}, lambda row: row.version, now))
    assert someone_else[same] == GONE


def test_a_tick_that_read_before_a_watcher_connected_does_not_judge_it():
    """The page fetched the new fragment and connected with its fingerprint while a tick was reading the old
    row: that tick says nothing to it; the next one does, if anything changed since."""
    registry = Registry(per_user=5, total=10)
    read_at = time.monotonic()
    fresh = Watcher(deposit_id=1, user_id=1, token="t", shown="b" * 16)  # connected after the read began
    registry.add(fresh)
    assert registry.verdicts([1], {1: _Row(version="a" * 16)}, lambda row: row.version, read_at) == []
    assert registry.verdicts([1], {1: _Row(version="c" * 16)}, lambda row: row.version, time.monotonic()) == [
        (fresh, CHANGED)]


def test_a_deposit_first_watched_while_a_tick_was_reading_is_the_next_ticks():
    """The tick asked for deposit 1 only; deposit 2's page connected meanwhile: not "gone" for being absent."""
    registry = Registry(per_user=5, total=10)
    registry.add(Watcher(deposit_id=1, user_id=1, token="t", shown="a" * 16, checked_at=0.0))
    newcomer = Watcher(deposit_id=2, user_id=1, token="t", shown="a" * 16, checked_at=0.0)
    registry.add(newcomer)
    assert registry.verdicts([1], {1: _Row()}, lambda row: row.version, time.monotonic()) == []
    assert registry.verdicts([1, 2], {1: _Row()}, lambda row: row.version, time.monotonic()) == [(newcomer, GONE)]


def test_the_registry_caps_per_user_and_in_all():
    registry = Registry(per_user=2, total=3)
    a1, a2, a3 = (Watcher(deposit_id=n, user_id=1, token="t", shown="a" * 16) for n in (1, 2, 3))
    b1, b2 = (Watcher(deposit_id=n, user_id=2, token="t", shown="a" * 16) for n in (1, 2))
    registry.add(a1)
    registry.add(a2)
    with pytest.raises(Full):
        registry.add(a3)
    registry.add(b1)
    with pytest.raises(Full):
        registry.add(b2)  # the total
    registry.remove(a1)
    registry.remove(a1)  # twice: no harm
    registry.add(b2)
    assert len(registry) == 3 and registry.deposit_ids() == [1, 2]
