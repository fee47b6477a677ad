"""The access matrix: every route × anonymous / user / other user / ops without TOTP / ops / admin.

Expectations live in tests/security/access_table.py; a route with no row fails here.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from app.extensions import db
from app.models import Role
from app.models.market import WithdrawalRequest
from app.models.room import CashOut
from app.web.access import roles_required
from tests.helpers import csrf_from
from tests.security import access_table as table
from tests.security.conftest import build_world, sign_in

#: endpoints added by this test to check the admin-area rule even before the area has views
PROBE = "admin._matrix_probe"
PROBE_ADMIN_ONLY = "admin._matrix_probe_admin_only"


def classify(response, endpoint: str = "") -> str:
    code = response.status_code
    location = response.headers.get("Location", "")
    if code == 401 or (code in (301, 302, 303) and location.split("?")[0].endswith("/login")):
        return table.LOGIN
    if code == 302 and "/account/2fa" in location and endpoint.startswith("admin."):
        return table.DENIED_2FA
    if code == 403:
        return table.FORBIDDEN
    if code == 404:
        return table.NOT_FOUND
    if code == 400:
        return table.REJECTED
    if code < 400 or code == 422:
        return table.OK
    return f"status {code}"


def _matches(outcome: str, expected: str, endpoint: str = "") -> bool:
    if expected == table.DENIED_2FA:
        return outcome in (table.DENIED_2FA, table.FORBIDDEN)
    if expected == table.OK and endpoint.startswith("admin."):
        # Past the guard is what the admin rule promises; a sample id may not exist (404) and a bare
        # POST may be refused as incomplete (400) — the admin views' own tests check their input.
        return outcome in (table.OK, table.NOT_FOUND, table.REJECTED)
    return outcome == expected


def _add_admin_probes(app) -> None:
    app.add_url_rule("/admin/_matrix-probe", endpoint=PROBE, view_func=lambda: "probe")

    @roles_required(Role.ADMIN, mfa=True)
    def admin_only():
        return "admin only"

    app.add_url_rule("/admin/_matrix-probe-admin-only", endpoint=PROBE_ADMIN_ONLY, view_func=admin_only)


def _url(rule, objects) -> tuple[str, str]:
    endpoint = rule.endpoint
    if endpoint.startswith("admin."):
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        if endpoint in table.ADMIN_URLS:
            return method, table.ADMIN_URLS[endpoint].format(**objects)
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "1").replace(f"<path:{arg}>", "1")
        return method, path
    route = table.ROUTES[endpoint]
    return route.method, route.url.format(**objects)


class _Clients:
    """One signed-in client per actor, with its CSRF token; remade after a logout."""

    def __init__(self, app, world):
        self.app, self.world, self.clients = app, world, {}

    def get(self, actor: str):
        if actor not in self.clients:
            client = self.app.test_client()
            # an address of its own: rate limits (register, login) count per actor, as for real visitors
            client.environ_base["REMOTE_ADDR"] = f"2001:db8::{uuid.uuid4().hex[:4]}"
            sign_in(self.app, client, actor, self.world)
            page = "/login" if actor == "anonymous" else "/account"
            self.clients[actor] = (client, csrf_from(client.get(page).get_data(as_text=True)))
        return self.clients[actor]

    def forget(self, actor: str) -> None:
        self.clients.pop(actor, None)


def test_every_route_has_a_row(sec_app):
    """Does every route of the app have an expectation (a new view must be decided on)?"""
    missing = sorted({r.endpoint for r in sec_app.url_map.iter_rules() if table.rule_for(r.endpoint) is None})
    assert not missing, f"add these endpoints to tests/security/access_table.py: {missing}"


def test_access_matrix(sec_app, providers, monkeypatch):
    """Does every route answer every actor as the table says (roles and object ownership)?"""
    _add_admin_probes(sec_app)
    monkeypatch.setattr(table, "ADMIN_ONLY", table.ADMIN_ONLY | {PROBE_ADMIN_ONLY})
    world = build_world(sec_app, providers)
    objects = dict(world.objects)
    clients = _Clients(sec_app, world)
    failures = []
    rules = sorted(sec_app.url_map.iter_rules(), key=lambda r: (r.endpoint == "seller.delete_api_form", r.endpoint))
    for rule in rules:
        rule_row = table.rule_for(rule.endpoint)
        assert rule_row is not None, f"no row for {rule.endpoint} in tests/security/access_table.py"
        method, url = _url(rule, objects)
        for actor in table.ACTORS:
            client, token = clients.get(actor)
            data = {"csrf_token": token} if method != "GET" else None
            response = client.open(url, method=method, data=data)
            outcome, expected = classify(response, rule.endpoint), rule_row.expect(actor)
            # A streamed answer (the CSV export) keeps its request context until closed, as a server would.
            response.close()
            if not _matches(outcome, expected, rule.endpoint):
                failures.append(f"{rule.endpoint} {method} {url} as {actor}: {outcome} "
                                f"({response.status_code}), expected {expected}")
            if rule.endpoint == "auth.logout":
                clients.forget(actor)
    assert not failures, "\n".join(failures)


def test_ids_in_form_bodies_are_checked_for_ownership(sec_app, providers):
    """Can another user cash out to the owner's room account or sell through the owner's API form? (No.)"""
    world = build_world(sec_app, providers)
    clients = _Clients(sec_app, world)
    client, token = clients.get("other")
    for endpoint, path, fields in table.BODY_OBJECT_CHECKS:
        values = {k: v.format(key=uuid.uuid4().hex, **world.objects) for k, v in fields.items()}
        response = client.post(path, data={"csrf_token": token, **values})
        assert response.status_code == 422, (endpoint, response.status_code)
    with sec_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CashOut)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WithdrawalRequest)) == 1  # the owner's
