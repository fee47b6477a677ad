"""Who may open the money half of the ops area: ops and admins with the second factor, nobody else."""
import sqlalchemy as sa

from app.extensions import db
from app.models import LedgerAdjustment
from tests.admin_money.conftest import session_of, sign_in, token

#: every route of the queue, disputes, payment exceptions, room and ledger parts (method, path)
ROUTES = [
    ("GET", "/admin/queue"),
    ("POST", "/admin/queue/1/pause"),
    ("POST", "/admin/queue/1/resume"),
    ("GET", "/admin/invoices"),
    ("GET", "/admin/disputes"),
    ("GET", "/admin/disputes/1"),
    ("GET", "/admin/disputes/1/evidence"),
    ("POST", "/admin/disputes/1/resolve"),
    ("GET", "/admin/disputes/1/thread"),
    ("POST", "/admin/disputes/1/messages"),
    ("GET", "/admin/disputes/1/files/" + "0" * 32),
    ("GET", "/admin/payment-exceptions"),
    ("POST", "/admin/payment-exceptions/1/resolve"),
    ("GET", "/admin/room"),
    ("POST", "/admin/room/unmatched/1/assign"),
    ("POST", "/admin/room/unmatched/1/return"),
    ("POST", "/admin/room/cash-outs/1/confirm"),
    ("POST", "/admin/room/cash-outs/1/fail"),
    ("POST", "/admin/room/incoming"),
    ("POST", "/admin/room/statement"),
    ("GET", "/admin/room/reconciliation"),
    ("POST", "/admin/room/reconciliation"),
    ("GET", "/admin/ledger"),
    ("GET", "/admin/ledger/accounts/1"),
    ("GET", "/admin/ledger/transfers"),
    ("GET", "/admin/ledger/adjustments"),
    ("POST", "/admin/ledger/adjustments"),
    ("POST", "/admin/ledger/adjustments/1/approve"),
    ("POST", "/admin/ledger/adjustments/1/reject"),
]


def test_the_route_list_is_complete(app):
    """Does the list above reach every endpoint the queue, disputes, payment exceptions, room and ledger modules
    define?"""
    ours = ("queue_routes", "disputes_routes", "payment_exceptions_routes", "room_routes", "ledger_routes")
    defined = {(method, rule.endpoint) for rule in app.url_map.iter_rules()
               if app.view_functions[rule.endpoint].__module__.rsplit(".", 1)[-1] in ours
               for method in rule.methods - {"HEAD", "OPTIONS"}}
    adapter = app.url_map.bind("localhost")
    listed = {(method, adapter.match(path, method=method)[0]) for method, path in ROUTES}
    assert defined == listed


def _call(client, method, path, csrf):
    if method == "GET":
        return client.get(path)
    return client.post(path, data={"csrf_token": csrf, "reason": "x"})


def test_every_route_refuses_outsiders(app, staff):
    """Are anonymous visitors sent to sign in, and users and ops without 2FA refused, on every route?"""
    for who in ("anonymous", "user", "ops_no_2fa"):
        if who == "anonymous":
            client = app.test_client()
        elif who == "user":
            client = sign_in(app, staff.user)  # through the real login form
        else:
            client = session_of(app, staff.ops_no_2fa)  # what that login form gives: no second factor
        csrf = token(client, "/login" if who == "anonymous" else "/account")
        for method, path in ROUTES:
            response = _call(client, method, path, csrf)
            if who == "anonymous":
                assert response.status_code in (302, 401), (method, path, response.status_code)
                if response.status_code == 302:
                    assert "/login" in response.headers["Location"]
            else:
                assert response.status_code == 403, (who, method, path, response.status_code)


def test_ops_with_2fa_get_in_but_cannot_decide_adjustments(app, staff):
    """Do ops with TOTP see every page, and are approvals and rejections still refused to non-admins?"""
    from app import ledger

    with app.app_context():
        account_id = ledger.wallet_of(staff.user.id).id
        db.session.commit()
    admin = sign_in(app, staff.admin)
    admin.post("/admin/ledger/adjustments", data={
        "adj-account": str(account_id), "adj-direction": "credit", "adj-amount": "5", "adj-reason": "test",
        "adj-request_key": "a" * 32, "csrf_token": token(admin)})
    ops = sign_in(app, staff.ops)
    for method, path in ROUTES:
        if method == "GET" and "/1" not in path:
            assert ops.get(path).status_code == 200, path
    csrf = token(ops)
    with app.app_context():
        adjustment_id = db.session.scalar(sa.select(LedgerAdjustment.id))
    assert adjustment_id is not None, "the admin could not ask for an adjustment"
    for action in ("approve", "reject"):
        response = ops.post(f"/admin/ledger/adjustments/{adjustment_id}/{action}",
                            data={"csrf_token": csrf, "reason": "mine now"})
        assert response.status_code == 403
    with app.app_context():
        assert db.session.get(LedgerAdjustment, adjustment_id).status == "requested"


def test_bad_input_is_a_clear_4xx_and_posts_are_rate_limited(app_factory):
    """Do absurd ids and values answer 404 / 422 (never 500), and does a burst of posts hit the limit?"""
    from tests.admin_money.conftest import make_staff

    app = app_factory(ADMIN_ACTION_RATE_LIMIT="3 per minute")
    with app.app_context():
        staff = make_staff()
    ops = session_of(app, staff.ops)
    huge = "9" * 20
    for path, status in ((f"/admin/ledger/accounts/{huge}", 404), (f"/admin/disputes/{huge}", 404),
                         (f"/admin/disputes/{huge}/evidence", 404), ("/admin/disputes/5", 404),
                         ("/admin/payment-exceptions?status=%00", 400),  # invalid text: refused at the edge
                         (f"/admin/ledger/transfers?account={huge}", 422), ("/admin/invoices?min_amount=1e9", 422),
                         (f"/admin/ledger?owner={huge}", 200), ("/admin/ledger?page=-4", 200)):
        assert ops.get(path).status_code == status, path
    csrf = token(ops)
    codes = [ops.post("/admin/room/unmatched/1/return", data={"csrf_token": csrf, "reason": "r"}).status_code
             for _ in range(4)]
    assert codes[:3] == [303, 303, 303] and codes[3] == 429
