"""CSRF: every unsafe method of every route refuses a request without a valid token (and writes nothing).

The provider notification endpoints (blueprint ``hooks``) and the Telegram bot's webhook (blueprint
``telegram_hook``) are the only exemptions: providers and Telegram cannot hold a token; provider
notifications are verified by signature instead (test_notifications.py), Telegram's updates by the webhook's
secret header (tests/notifications/test_telegram_link.py).
"""
from __future__ import annotations

from app.extensions import db
from tests.fuzz.snapshot import changed, snapshot
from tests.security import access_table as table
from tests.security.conftest import build_world, sign_in

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
#: blueprints whose endpoints need no CSRF token, and why
EXEMPT = {"hooks": "provider notifications: verified by signature, providers cannot hold a token",
          "telegram_hook": "Telegram's webhook: verified by its secret header, Telegram cannot hold a token"}
#: single views exempted, and why (harmless only while they accept no unsafe method: checked below)
EXEMPT_VIEWS = {"app.web.metrics_view.metrics": "GET only (Prometheus scrapes)"}


def _unsafe_routes(app, objects):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        for method in sorted(rule.methods & UNSAFE):
            if rule.endpoint in table.ROUTES and table.ROUTES[rule.endpoint].method == method:
                url = table.ROUTES[rule.endpoint].url.format(**objects)
            else:
                url = rule.rule
                for arg in rule.arguments:
                    url = url.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "x")
            yield rule.endpoint, method, url


def test_every_unsafe_method_needs_a_token(sec_app, providers):
    """Is every POST/PUT/PATCH/DELETE (hooks aside) refused with 400 without a token or with a forged one?"""
    world = build_world(sec_app, providers)
    routes = list(_unsafe_routes(sec_app, world.objects))
    assert len(routes) >= 15
    with sec_app.app_context():
        before = snapshot()
    failures = []
    for actor in ("anonymous", "user", "admin"):
        client = sec_app.test_client()
        sign_in(sec_app, client, actor, world)
        for endpoint, method, url in routes:
            if endpoint.split(".")[0] in EXEMPT:
                continue
            for data in ({}, {"csrf_token": "forged.token.value"}):
                response = client.open(url, method=method, data=data)
                if response.status_code != 400 or "Форма устарела" not in response.get_data(as_text=True):
                    failures.append(f"{endpoint} {method} {url} as {actor} with {data}: {response.status_code}")
    with sec_app.app_context():
        assert changed(before, snapshot()) == []
        db.session.remove()
    assert not failures, "\n".join(failures)


def test_a_token_of_another_session_is_refused(sec_app, providers):
    """Is a token taken from one session useless in another (tokens are bound to the session)?"""
    from tests.helpers import csrf_from

    world = build_world(sec_app, providers)
    attacker, victim = sec_app.test_client(), sec_app.test_client()
    sign_in(sec_app, attacker, "other", world)
    sign_in(sec_app, victim, "user", world)
    stolen = csrf_from(attacker.get("/account").get_data(as_text=True))
    response = victim.post(f"/seller/withdrawals/{world.objects['request']}/cancel", data={"csrf_token": stolen})
    assert response.status_code == 400


def test_only_the_hooks_blueprints_are_exempt(sec_app):
    """Is the CSRF exemption list exactly the notification and webhook endpoints (nothing exempted by accident)?"""
    from app.extensions import csrf

    exempt_views = {name for name in csrf._exempt_views}
    exempt_blueprints = {getattr(bp, "name", bp) for bp in csrf._exempt_blueprints}
    assert exempt_blueprints == set(EXEMPT)
    assert exempt_views <= set(EXEMPT_VIEWS), exempt_views - set(EXEMPT_VIEWS)
    for rule in sec_app.url_map.iter_rules():
        view = sec_app.view_functions[rule.endpoint]
        if f"{view.__module__}.{view.__name__}" in exempt_views:
            assert not rule.methods & UNSAFE, f"{rule.endpoint} is CSRF-exempt and accepts {rule.methods & UNSAFE}"
