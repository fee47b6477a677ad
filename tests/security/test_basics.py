"""Access guard, CSRF, rate limits, headers and error pages."""
import uuid

import pytest
import redis

from app.web.access import is_public_endpoint
from tests.helpers import gen_user

#: the only endpoints an anonymous visitor may reach; a new public view must be added here on purpose
PUBLIC_ENDPOINTS = {
    "static", "favicon", "main.index", "main.help", "main.healthz", "main.readyz", "main.set_language",
    "auth.login", "auth.login_2fa", "auth.register", "metrics.metrics", "hooks.notify",
    "telegram_hook.webhook",  # Telegram's webhook: trusted by its secret header, not a session
    "auth.forgot_password", "auth.reset_password",  # a forgotten password is, by its nature, signed out
    "reserves.index",  # proof of reserves: the point is that anyone can check it
}


def _sample_url(rule):
    from werkzeug.routing import IntegerConverter

    values = {arg: ("1" if isinstance(rule._converters[arg], IntegerConverter) else "x") for arg in rule.arguments}
    path = rule.rule
    for arg, value in values.items():
        path = path.replace(f"<int:{arg}>", value).replace(f"<{arg}>", value).replace(f"<path:{arg}>", value)
    return path


def test_every_route_is_private_unless_listed_public(app, client):
    """Does every route outside the public list send an anonymous visitor to sign in?"""
    from tests.helpers import csrf_from

    token = csrf_from(client.get("/login").get_data(as_text=True))
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint in PUBLIC_ENDPOINTS:
                continue
            assert not is_public_endpoint(rule.endpoint), f"{rule.endpoint} is public but not listed"
            method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"OPTIONS", "HEAD"})[0]
            # A valid CSRF token, so that it is the login guard (not CSRF) that must refuse.
            data = None if method == "GET" else {"csrf_token": token}
            response = client.open(_sample_url(rule), method=method, data=data)
            assert response.status_code in (302, 401), (rule.rule, response.status_code)
            if response.status_code == 302:
                assert "/login" in response.headers["Location"]


def test_htmx_request_without_session_gets_hx_redirect(client):
    """Does an expired session during an HTMX request answer HX-Redirect rather than a login page?"""
    response = client.get("/account", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_post_without_csrf_token_is_rejected(app, client):
    """Is a form post without the CSRF token refused with a clear message and no effect?"""
    with app.app_context():
        gen_user()
    response = client.post("/login", data={"email": "user@example.com", "password": "Correct-Horse-7"})
    assert response.status_code == 400
    assert "Форма устарела" in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_login_is_rate_limited(app_factory):
    """After too many attempts, does login answer 429 with an explanation?"""
    app = app_factory(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    # Counters of this client only, whichever storage the limiter uses (Redis, or its memory fallback).
    client.environ_base["REMOTE_ADDR"] = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    from tests.helpers import csrf_from

    token = csrf_from(client.get("/login").get_data(as_text=True))
    codes = [client.post("/login", data={"email": "a@b.cd", "password": "x", "csrf_token": token}).status_code
             for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    page = client.post("/login", data={"email": "a@b.cd", "password": "x", "csrf_token": token})
    assert "Подождите минуту" in page.get_data(as_text=True)


def test_security_headers_and_self_only_csp(client):
    """Do pages carry a self-only CSP, frame denial and nosniff?"""
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "HX-Request" in response.headers["Vary"]


def test_no_inline_script_on_pages(client):
    """Is every script on the login page an external file the CSP allows?"""
    html = client.get("/login").get_data(as_text=True)
    assert "<script>" not in html
    assert " on" + "click=" not in html


def test_error_pages_in_both_languages(client):
    """Is a 404 explained in Russian by default and in English after switching?"""
    assert "Страница не найдена" in client.get("/no-such-page").get_data(as_text=True)
    from tests.helpers import csrf_from

    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/lang/en", data={"csrf_token": token})
    assert "Page not found" in client.get("/no-such-page").get_data(as_text=True)


def test_language_switch(client):
    """Does the switch change the interface language and keep it?"""
    from tests.helpers import csrf_from

    page = client.get("/login").get_data(as_text=True)
    assert "Войти" in page
    client.post("/lang/en", data={"csrf_token": csrf_from(page)})
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="en"' in page and "Sign in" in page
    assert client.post("/lang/de", data={"csrf_token": csrf_from(page)}).status_code == 400


def test_healthz_and_readyz(client):
    """Do the health endpoints answer when the database and Redis are up?"""
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.server_errors_expected
def test_readyz_fails_when_redis_is_down(app_factory):
    """Does readiness say 503 (and why) when Redis does not answer?"""
    app = app_factory(REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_ENABLED=False)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"] == "unreachable"
    assert response.json["checks"]["database"] == "ok"
    assert redis  # the real client library is what failed to connect
