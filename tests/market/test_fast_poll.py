"""The invoice page's unchanged poll answered before Flask (app/web/deposits/fast_poll.py): the same answers as the
full stack, and never one the database or the session no longer allows.

Each test counts the polls the fast path answered itself (``FastPoll.answered``), so a test that passes
because Flask answered instead would show it.
"""
import re

import sqlalchemy as sa

from app.extensions import db
from app.market import invoices, matching
from app.models import User
from app.models.market import Deposit
from app.people import accounts
from app.web.deposits.fast_poll import EXTENSION_KEY
from tests.helpers import PASSWORD, csrf_from

HTMX = {"HX-Request": "true"}


def _login(client, email="buyer@example.com"):
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})


def _open_invoice(market_web):
    def setup(m):
        m.seller("seller@example.com", "tbank")
        m.buyer("other@example.com")
        deposit = m.deposit(m.buyer("buyer@example.com"), "tbank", 1_000_00)
        matching.match(deposit.id)
        return deposit.id

    return market_web(setup)


def _poll_url(fragment: str) -> str:
    return re.search(r'hx-get="([^"]+)"', fragment).group(1).replace("&amp;", "&")


def _watching(market_app, market_web, email="buyer@example.com"):
    """A signed-in buyer's client and the poll URL of their open invoice's fragment."""
    deposit_id = _open_invoice(market_web)
    client = market_app.test_client()
    _login(client, email)
    fragment = client.get(f"/buy/{deposit_id}", headers=HTMX).get_data(as_text=True)
    return client, deposit_id, _poll_url(fragment), fragment


def _answered(app) -> int:
    return app.extensions[EXTENSION_KEY].answered


def _user_id(app, email):
    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.email == email))


def test_unchanged_poll_is_answered_before_flask_with_the_full_stacks_headers(market_web, market_app, app_factory):
    """Is the unchanged poll a 204 from the fast path, with exactly the headers the Flask view gives it?"""
    client, _deposit_id, poll, _ = _watching(market_app, market_web)
    before = _answered(market_app)
    fast = client.get(poll, headers={**HTMX, "X-Request-ID": "rid-1"})
    assert (fast.status_code, fast.get_data()) == (204, b"")
    assert _answered(market_app) == before + 1
    assert fast.headers["X-Request-ID"] == "rid-1"

    # the same request, the same session, through the full stack (a second app on the same database)
    full_app = app_factory(FAST_POLL_ENABLED=False)
    assert EXTENSION_KEY not in full_app.extensions
    full_client = full_app.test_client()
    full_client.set_cookie("session", client.get_cookie("session").value)
    full = full_client.get(poll, headers={**HTMX, "X-Request-ID": "rid-1"})
    assert (full.status_code, full.get_data()) == (204, b"")

    def comparable(response):
        headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in ("content-type", "vary")}
        return headers, sorted(v.strip() for v in response.headers.get("Vary", "").split(","))

    assert comparable(fast) == comparable(full)
    assert fast.headers["Cache-Control"] == "no-store" and "Content-Security-Policy" in fast.headers


def test_a_transition_is_seen_on_the_very_next_poll(market_web, market_app):
    """Nothing is cached: the poll right after a transition commits gets the new fragment from Flask."""
    client, deposit_id, poll, _ = _watching(market_app, market_web)
    assert client.get(poll, headers=HTMX).status_code == 204
    market_web(lambda m: invoices.expire(deposit_id))
    before = _answered(market_app)
    changed = client.get(poll, headers=HTMX)
    assert changed.status_code == 200 and 'data-status="expired"' in changed.get_data(as_text=True)
    assert _answered(market_app) == before  # rendered by the view, not the fast path


def test_the_buyers_claim_changes_the_fingerprint(market_web, market_app):
    """A change that keeps the status (the buyer says they paid) still re-renders at once."""
    client, deposit_id, poll, fragment = _watching(market_app, market_web)
    client.post(f"/buy/{deposit_id}/paid", data={"csrf_token": csrf_from(fragment)})
    changed = client.get(poll, headers=HTMX)
    assert changed.status_code == 200 and 'id="claim-paid"' not in changed.get_data(as_text=True)
    before = _answered(market_app)
    assert client.get(_poll_url(changed.get_data(as_text=True)), headers=HTMX).status_code == 204
    assert _answered(market_app) == before + 1


def test_another_users_deposit_is_a_404(market_web, market_app):
    """The fast path never answers for someone else's deposit (or one that does not exist): Flask's 404."""
    _client, deposit_id, poll, _ = _watching(market_app, market_web)
    other = market_app.test_client()
    _login(other, "other@example.com")
    before = _answered(market_app)
    assert other.get(poll, headers=HTMX).status_code == 404
    assert other.get(poll.replace(f"/buy/{deposit_id}?", f"/buy/{deposit_id + 1000}?"), headers=HTMX
                     ).status_code == 404
    assert _answered(market_app) == before


def test_a_logged_out_session_gets_no_status_on_its_next_request(market_web, market_app):
    """The cookie of a session that logged out (kept by an attacker, say) gets a 401 on the next poll."""
    client, _deposit_id, poll, fragment = _watching(market_app, market_web)
    cookie = client.get_cookie("session").value
    assert client.get(poll, headers=HTMX).status_code == 204
    client.post("/logout", data={"csrf_token": csrf_from(fragment)})
    replay = market_app.test_client()
    replay.set_cookie("session", cookie)
    before = _answered(market_app)
    response = replay.get(poll, headers=HTMX)
    assert response.status_code == 401 and "HX-Redirect" in response.headers
    assert _answered(market_app) == before


def test_a_password_change_elsewhere_ends_the_watching_session_at_once(market_web, market_app):
    """A password changed (on another device) makes the very next poll of the old session a 401."""
    client, _deposit_id, poll, _ = _watching(market_app, market_web)
    assert client.get(poll, headers=HTMX).status_code == 204

    def change(m):
        user = db.session.scalar(sa.select(User).where(User.email == "buyer@example.com"))
        accounts.change_password(user, PASSWORD, "An0ther-long-Passphrase!")

    market_web(change)
    response = client.get(poll, headers=HTMX)
    assert response.status_code == 401 and "HX-Redirect" in response.headers


def test_a_frozen_account_is_never_answered_by_the_fast_path(market_web, market_app):
    """Freezing takes the account off the fast path on its next poll: the full stack decides what it sees."""
    client, _deposit_id, poll, _ = _watching(market_app, market_web)
    assert client.get(poll, headers=HTMX).status_code == 204
    user_id = _user_id(market_app, "buyer@example.com")

    def freeze(m):
        db.session.execute(sa.update(User).where(User.id == user_id).values(is_frozen=True))

    market_web(freeze)
    before = _answered(market_app)
    client.get(poll, headers=HTMX)
    assert _answered(market_app) == before


def test_freezing_signs_the_buyer_out_within_one_request(market_web, market_app):
    """Ops freezing the account ends its sessions: the very next poll is the login redirect (401), on the fast
    path and through Flask alike."""
    from app.models import Role
    from app.people import user_admin
    from tests.helpers import gen_user

    client, _deposit_id, poll, _ = _watching(market_app, market_web)
    assert client.get(poll, headers=HTMX).status_code == 204
    user_id = _user_id(market_app, "buyer@example.com")

    def freeze(m):
        ops = gen_user("ops-freezer@example.com", role=Role.OPS)
        user_admin.set_frozen(user_id, True, actor=ops, reason="suspicious payments")

    market_web(freeze)
    response = client.get(poll, headers=HTMX)
    assert response.status_code == 401 and "HX-Redirect" in response.headers


def test_a_forged_or_foreign_cookie_gets_a_401(market_web, market_app, app_factory):
    """A cookie signed with another key, or tampered with, is no session: the login redirect, not a 204."""
    client, _deposit_id, poll, _ = _watching(market_app, market_web)
    good = client.get_cookie("session").value
    for bad in (good[:-2] + ("AA" if not good.endswith("AA") else "BB"), "garbage", good.replace(".", "", 1)):
        forged = market_app.test_client()
        forged.set_cookie("session", bad)
        response = forged.get(poll, headers=HTMX)
        assert response.status_code == 401, bad


def test_other_requests_to_the_url_go_to_flask(market_web, market_app):
    """The page load, a boosted navigation and a stale fingerprint render; anything but the poll exactly as the
    page sends it (an extra parameter, HEAD) is Flask's to answer."""
    client, deposit_id, poll, _ = _watching(market_app, market_web)
    before = _answered(market_app)
    assert client.get(poll).status_code == 200  # no HX-Request: the whole page
    assert client.get(poll, headers={**HTMX, "HX-Boosted": "true"}).status_code == 200
    assert client.get(poll + "&x=1", headers=HTMX).status_code == 204  # the view ignores it; Flask answers
    assert client.get(f"/buy/{deposit_id}?v=0000000000000000", headers=HTMX).status_code == 200
    assert client.head(poll, headers=HTMX).status_code in (200, 204)
    assert _answered(market_app) == before


def test_a_session_from_another_browser_goes_to_flask_which_marks_it_not_fresh(market_web, market_app):
    """Flask-Login's basic session protection: the fast path leaves a changed address or browser to Flask."""
    client, _deposit_id, poll, _ = _watching(market_app, market_web)
    before = _answered(market_app)
    response = client.get(poll, headers={**HTMX, "User-Agent": "another browser"})
    assert response.status_code == 204 and "Set-Cookie" in response.headers  # the session, now not fresh
    assert _answered(market_app) == before
    assert client.get(poll, headers={**HTMX, "User-Agent": "another browser"}).status_code == 204
    assert _answered(market_app) == before + 1  # a non-fresh session stays as it is: answered here


def test_a_deposit_row_that_stopped_being_live_stops_the_204(market_web, market_app):
    """Any write to the deposit that the fragment shows (here a status set directly) ends the 204s."""
    client, deposit_id, poll, _ = _watching(market_app, market_web)

    def settle_quietly(m):
        db.session.execute(sa.update(Deposit).where(Deposit.id == deposit_id).values(status="disputed"))

    market_web(settle_quietly)
    response = client.get(poll, headers=HTMX)
    assert response.status_code == 200 and 'data-status="disputed"' in response.get_data(as_text=True)


def test_concurrent_polls_share_a_bounded_number_of_connections(market_web, market_app):
    """Polls from many threads at once are all answered, over at most ``FAST_POLL_CONNECTIONS`` connections
    of the fast path's own (PostgreSQL; SQLite uses the app's pool and opens none)."""
    import threading

    client, _deposit_id, poll, _ = _watching(market_app, market_web)
    cookie = client.get_cookie("session").value
    before = _answered(market_app)
    codes: list[int] = []

    def watch():
        mine = market_app.test_client()
        mine.set_cookie("session", cookie)
        codes.extend(mine.get(poll, headers=HTMX).status_code for _ in range(10))

    threads = [threading.Thread(target=watch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [204] * 80
    assert _answered(market_app) == before + 80
    fast = market_app.extensions[EXTENSION_KEY]
    assert fast.max_connections == market_app.config["FAST_POLL_CONNECTIONS"] == 2
    assert len(fast._opened) <= fast.max_connections
