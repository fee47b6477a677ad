"""The sandbox faults and read-only views the bank test added: late notifications, the money view."""
from __future__ import annotations

import json

from sandbox.providers import create_providers_app
from sandbox.server import serve
from tests.sandbox.test_providers_server import Receiver, account, tbank


def _paid(client, terminal: dict, order_id: str) -> str:
    payment_id = tbank(client, terminal, "Init", Amount=150000, OrderId=order_id)["PaymentId"]
    assert client.post(f"/_sandbox/providers/tbank/payments/{payment_id}/pay", json={"action": "pay"}).status_code == 200
    return payment_id


def test_late_notifications_are_overtaken_by_later_ones():
    """With late_rate=1 for the first payment only, do the second payment's notifications arrive first?"""
    receiver = Receiver()
    running = serve(receiver)
    app = create_providers_app(seed=5)
    client = app.test_client()
    try:
        terminal = account(client, "tbank", notification_url=running.url + "/hook")
        client.post("/_sandbox/faults", json={"late_rate": 1.0, "late_seconds": 0.6})
        first = _paid(client, terminal, "late")
        client.post("/_sandbox/faults/reset")
        second = _paid(client, terminal, "prompt")
        bodies = [json.loads(b) for b in receiver.wait_for(4)]
        assert [str(b["PaymentId"]) for b in bodies] == [str(second)] * 2 + [str(first)] * 2
        log = client.get("/_sandbox/providers/notifications", query_string={"payment_id": first}).get_json()
        assert [e["outcome"] for e in log][:2] == ["late 0.6s", "late 0.6s"]
    finally:
        assert app.extensions["sandbox_providers"].notifier.wait_idle(5)
        running.stop()


def test_money_view_reports_what_each_account_was_paid():
    """Does /_sandbox/providers/money list payments and sum what was paid per account, changing nothing?"""
    app = create_providers_app(seed=6)
    client = app.test_client()
    terminal = account(client, "tbank")
    paid = _paid(client, terminal, "one")
    open_id = tbank(client, terminal, "Init", Amount=50000, OrderId="two")["PaymentId"]
    before = client.get(f"/_sandbox/providers/tbank/payments/{open_id}").get_json()["status"]
    money = client.get("/_sandbox/providers/money").get_json()
    assert money["paid_by_account"] == {f"tbank:{terminal['terminal_key']}": 150000}
    by_id = {p["id"]: p for p in money["payments"]}
    assert by_id[str(paid)]["paid_amount"] == 150000 and by_id[str(open_id)]["paid_amount"] is None
    assert client.get(f"/_sandbox/providers/tbank/payments/{open_id}").get_json()["status"] == before
    assert app.extensions["sandbox_providers"].notifier.wait_idle(5)
