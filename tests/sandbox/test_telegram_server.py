"""The sandbox Telegram Bot API: Telegram's wire format, getUpdates' offset rules, the webhook, the demo's page.

Over real HTTP (the session's sandbox bot, fresh per test): these are the answers the app's Bot API client
and the tests rely on, checked against what https://core.telegram.org/bots/api documents.
"""
from __future__ import annotations

import threading
import time

import requests
from werkzeug.wrappers import Request, Response

from sandbox.server import serve
from tests.sandboxes import BOT_TOKEN, BOT_USERNAME


def _call(telegram, method: str, http_method: str = "POST", token: str = BOT_TOKEN, **params):
    url = f"{telegram.url}/bot{token}/{method}"
    if http_method == "GET":
        return requests.get(url, params=params, timeout=15)
    return requests.post(url, json=params, timeout=15)


def test_answers_have_telegrams_shape(telegram):
    """{"ok": true, "result": …} on success; {"ok": false, "error_code", "description"} with the HTTP status."""
    me = _call(telegram, "getMe", "GET")
    assert me.status_code == 200 and me.json()["ok"] is True
    assert me.json()["result"]["username"] == BOT_USERNAME and me.json()["result"]["is_bot"] is True
    wrong = _call(telegram, "getMe", token="123456:not-this-bot")
    assert (wrong.status_code, wrong.json()) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    unknown = _call(telegram, "sendTelepathy")
    assert (unknown.status_code, unknown.json()["description"]) == (404, "Not Found")
    empty = _call(telegram, "sendMessage", chat_id=1, text=" ")
    assert (empty.status_code, empty.json()["description"]) == (400, "Bad Request: message text is empty")
    form = requests.post(f"{telegram.url}/bot{BOT_TOKEN}/sendMessage", data={"chat_id": "5", "text": "hi"}, timeout=5)
    assert form.json()["result"]["chat"]["id"] == 5 and form.json()["result"]["text"] == "hi"


def test_get_updates_confirms_by_offset_and_long_polls(telegram):
    """Updates below the offset are forgotten for good; a negative offset gives the last; timeout waits for one."""
    ids = [telegram.write(10 + n, f"message {n}")["update"]["update_id"] for n in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    page = _call(telegram, "getUpdates", offset=0).json()["result"]
    assert [u["update_id"] for u in page] == ids
    assert page[0]["message"]["chat"] == {"id": 10, "type": "private", "first_name": "Sandbox"}
    assert [u["update_id"] for u in _call(telegram, "getUpdates", offset=-1).json()["result"]] == ids[-1:]
    assert [u["update_id"] for u in _call(telegram, "getUpdates", offset=ids[1]).json()["result"]] == ids[1:]
    assert [u["update_id"] for u in _call(telegram, "getUpdates", offset=0).json()["result"]] == ids[1:]  # confirmed
    assert _call(telegram, "getUpdates", offset=ids[2] + 1).json()["result"] == []
    threading.Timer(0.3, lambda: telegram.write(13, "/start abc")).start()
    started = time.monotonic()
    waited = _call(telegram, "getUpdates", offset=ids[2] + 1, timeout=5).json()["result"]
    assert 0.2 < time.monotonic() - started < 4
    assert waited[0]["message"]["text"] == "/start abc"
    assert waited[0]["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


def test_a_webhook_gets_each_update_with_the_secret_until_it_answers(telegram):
    """setWebhook: updates are POSTed with X-Telegram-Bot-Api-Secret-Token; a failed one is re-sent; no getUpdates."""
    received, answers = [], [500, 200, 200]

    def hook(environ, start_response):
        request = Request(environ)
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), request.get_json()["update_id"]))
        return Response("", status=answers.pop(0) if answers else 200)(environ, start_response)

    server = serve(hook)
    try:
        bad = _call(telegram, "setWebhook", url=f"{server.url}/hook", secret_token="has spaces")
        assert bad.status_code == 400 and bad.json()["ok"] is False
        assert _call(telegram, "setWebhook", url=f"{server.url}/hook", secret_token="s3cret").json()["result"] is True
        assert _call(telegram, "getWebhookInfo").json()["result"]["url"] == f"{server.url}/hook"
        first = telegram.write(1, "one")
        assert first["webhook_statuses"] == [500] and telegram.state()["pending"] == [first["update"]["update_id"]]
        second = telegram.write(1, "two")  # the failed one goes first, then the new one
        assert second["webhook_statuses"] == [200, 200] and telegram.state()["pending"] == []
        assert [h for h, _ in received] == ["s3cret"] * 3
        assert [u for _, u in received] == [first["update"]["update_id"]] * 2 + [second["update"]["update_id"]]
        conflict = _call(telegram, "getUpdates")
        assert conflict.status_code == 409 and conflict.json()["description"].startswith("Conflict:")
        assert _call(telegram, "deleteWebhook").json()["description"] == "Webhook was deleted"
        assert _call(telegram, "getUpdates").json() == {"ok": True, "result": []}
    finally:
        server.stop()


def test_send_message_refusals_and_faults(telegram):
    """Unknown chats, blocked bots and injected failures answer as Telegram does (400, 403, 500/429)."""
    telegram.chat(7, "unknown")
    telegram.chat(8, "blocked")
    assert _call(telegram, "sendMessage", chat_id=7, text="x").json()["description"] == "Bad Request: chat not found"
    blocked = _call(telegram, "sendMessage", chat_id=8, text="x")
    assert (blocked.status_code, blocked.json()["description"]) == (403, "Forbidden: bot was blocked by the user")
    telegram.fail_next(1, status=429)
    limited = _call(telegram, "sendMessage", chat_id=9, text="x")
    assert limited.status_code == 429 and limited.json()["parameters"] == {"retry_after": 1}
    assert _call(telegram, "sendMessage", chat_id=9, text="x").json()["ok"] is True
    assert [m["chat"]["id"] for m in telegram.messages] == [9]


def test_the_demo_page_presses_start(telegram):
    """The stand-in for t.me/<bot>?start=…: its Start button writes "/start <token>" to the bot."""
    page = requests.get(f"{telegram.url}/{BOT_USERNAME}", params={"start": "tok_en-1"}, timeout=5)
    assert page.status_code == 200 and 'value="tok_en-1"' in page.text
    pressed = requests.post(f"{telegram.url}/{BOT_USERNAME}", data={"start": "tok_en-1", "chat_id": "31337"}, timeout=5)
    assert pressed.status_code == 200 and "/start tok_en-1" in pressed.text
    [update] = _call(telegram, "getUpdates").json()["result"]
    assert update["message"]["chat"]["id"] == 31337 and update["message"]["text"] == "/start tok_en-1"
