"""TRUSTED_PROXY_COUNT: behind a proxy the limiter and the audit log see the client, never a spoofed address."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from tests.helpers import csrf_from, gen_user

PROXY = "10.0.0.5"


def _failed_logins(client, forwarded_for: str, n: int) -> list[int]:
    """``n`` wrong passwords from the proxy's address, each claiming ``forwarded_for`` as the client."""
    headers = {"X-Forwarded-For": forwarded_for}
    token = csrf_from(client.get("/login", headers=headers).get_data(as_text=True))
    return [client.post("/login", headers=headers, data={
        "email": "user@example.com", "password": f"Wrong-guess-{i}", "csrf_token": token}).status_code
        for i in range(n)]


def _audit_ips() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.ip).where(AuditEvent.action == "auth.login_failed")
                                   .order_by(AuditEvent.id)))


def test_one_trusted_proxy_gives_the_forwarded_client(app_factory):
    """With TRUSTED_PROXY_COUNT=1 are two clients behind one proxy limited apart, and audited by their own address?"""
    app = app_factory(TRUSTED_PROXY_COUNT=1, LOGIN_RATE_LIMIT="3 per minute", LOGIN_SLOWDOWN_FREE_FAILURES=100)
    with app.app_context():
        gen_user()
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = PROXY
    # A spoofed left-most entry is ignored: the proxy appended the real client on the right.
    assert _failed_logins(client, "6.6.6.6, 203.0.113.7", 4) == [200, 200, 200, 429]
    assert _failed_logins(client, "198.51.100.9", 3) == [200, 200, 200]  # another client: its own limit
    with app.app_context():
        assert _audit_ips() == ["203.0.113.7"] * 3 + ["198.51.100.9"] * 3


def test_no_trusted_proxy_ignores_the_header(app_factory):
    """With the default 0, does a client that forges X-Forwarded-For stay limited and audited by its real address?"""
    app = app_factory(LOGIN_RATE_LIMIT="3 per minute", LOGIN_SLOWDOWN_FREE_FAILURES=100)
    assert app.config["TRUSTED_PROXY_COUNT"] == 0
    with app.app_context():
        gen_user()
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = PROXY
    codes = _failed_logins(client, "203.0.113.7", 2) + _failed_logins(client, "198.51.100.9", 2)
    assert codes == [200, 200, 200, 429]  # a new forged address does not buy new attempts
    with app.app_context():
        assert _audit_ips() == [PROXY] * 3
