"""Who may open the ops area: every route refuses anonymous visitors, users and ops without 2FA."""
from __future__ import annotations

from app.extensions import db
from app.models import User
from tests.admin.conftest import sign_in
from tests.helpers import csrf_from


def _url(rule) -> str:
    path = rule.rule
    for arg in rule.arguments:
        path = path.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "x")
    return path


def test_every_admin_route_refuses_anonymous_users_and_ops_without_2fa(app, staff):
    """Does each admin route, GET and POST, refuse anonymous visitors, users and ops without 2FA?"""
    requests = [(rule, method) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")
                for method in sorted(rule.methods - {"OPTIONS", "HEAD"})]
    assert len(requests) >= 12  # the area is really there
    for who in (None, staff.user, staff.ops_without_2fa):
        client = sign_in(app, who)
        token = csrf_from(client.get("/login" if who is None else "/account").get_data(as_text=True))
        for rule, method in requests:
            response = client.open(_url(rule), method=method, data={"csrf_token": token})
            if who is None:
                assert response.status_code == 302 and "/login" in response.headers["Location"], rule.rule
            else:
                assert response.status_code == 403, (who.email, rule.rule, method, response.status_code)


def test_staff_pages_2fa_page_settings_for_admins_and_csrf(app, staff):
    """Ops without 2FA get a page saying how; ops with it open the area; settings are admins' only; CSRF holds."""
    response = sign_in(app, staff.ops_without_2fa).get("/admin/")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "/account/2fa" in page and "двухфакторн" in page.lower()

    ops = sign_in(app, staff.ops)
    for path in ("/admin/", "/admin/users", f"/admin/users/{staff.user.id}", "/admin/jobs",
                 "/admin/payment-exceptions"):
        assert ops.get(path).status_code == 200, path
    assert "/admin/payment-exceptions" in ops.get("/admin/").get_data(as_text=True)  # in the area's nav
    # A boosted navigation (HX-Request too) gets the whole page; the polled panel is its own endpoint.
    assert "<html" in ops.get("/admin/", headers={"HX-Request": "true", "HX-Boosted": "true"}).get_data(as_text=True)
    live = ops.get("/admin/live", headers={"HX-Request": "true"})
    assert live.status_code == 200 and "<html" not in live.get_data(as_text=True)

    assert ops.get("/admin/settings").status_code == 403
    token = csrf_from(ops.get("/admin/").get_data(as_text=True))
    assert ops.post("/admin/settings", data={"csrf_token": token, "st-reason": "raise"}).status_code == 403
    assert "/admin/settings" not in ops.get("/admin/").get_data(as_text=True)

    # No CSRF token: refused, nothing frozen.
    assert ops.post(f"/admin/users/{staff.user.id}/freeze", data={"frz-reason": "fraud"}).status_code == 400
    with app.app_context():
        assert not db.session.get(User, staff.user.id).is_frozen

    admin = sign_in(app, staff.admin)
    assert admin.get("/admin/settings").status_code == 200
    assert "/admin/settings" in admin.get("/admin/").get_data(as_text=True)


def test_state_changing_posts_are_rate_limited(app, staff):
    """After the configured number of admin actions a minute, is the next one refused with 429 and not done?"""
    app.config["ADMIN_ACTION_RATE_LIMIT"] = "2 per minute"
    ops = sign_in(app, staff.ops)
    path = f"/admin/users/{staff.user.id}"
    token = csrf_from(ops.get(path).get_data(as_text=True))
    codes = [ops.post(f"{path}/{action}", data={"csrf_token": token, "frz-reason": "checking limits"}).status_code
             for action in ("freeze", "unfreeze", "freeze")]
    assert codes[:2] == [302, 302] and codes[2] == 429
    with app.app_context():
        assert not db.session.get(User, staff.user.id).is_frozen
