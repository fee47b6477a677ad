"""The sandbox Telegram Bot API: one bot, its chats, its updates, spoken in Telegram's wire format.

Every Bot API answer is JSON ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": N,
"description": "…"}`` (with ``parameters.retry_after`` for 429), as https://core.telegram.org/bots/api
documents it.  Methods (``/bot<token>/<method>``, GET or POST, parameters in the query string, a form or
a JSON body):

* ``getMe`` — the bot (``username`` is what deep links ``https://t.me/<username>?start=…`` name);
* ``getUpdates`` — ``offset`` (updates below it are confirmed and forgotten; negative: the last ones),
  ``limit`` (1–100), ``timeout`` (long polling, seconds), ``allowed_updates``; 409 while a webhook is set;
* ``setWebhook`` (``url``, ``secret_token``, ``drop_pending_updates``), ``deleteWebhook``,
  ``getWebhookInfo``: with a webhook set, each update is POSTed to it with the
  ``X-Telegram-Bot-Api-Secret-Token`` header and kept (re-sent on the next delivery) until it answers 2xx;
* ``sendMessage`` (``chat_id``, ``text``) — 400 "chat not found" for a chat marked unknown, 403 for one
  that blocked the bot, 400 for an empty text.

A wrong token gets 401 "Unauthorized" and an unknown method 404 "Not Found", as from the real API.

Test control (``/_sandbox/telegram/…``, loopback only, no auth):

* ``POST …/updates`` ``{"chat_id", "text"}`` or ``{"chat_id", "start": TOKEN}`` — a person writes to the
  bot (``start`` is pressing Start on a deep link); optional ``chat_type``, ``language_code``,
  ``first_name``, ``repeat`` (deliver the same update this many times: a duplicate delivery);
* ``GET …/messages`` — what the bot sent (``?chat_id=`` to filter); ``GET …/state`` — webhook, pending
  updates, the offsets ``getUpdates`` was asked for;
* ``POST …/chats`` ``{"chat_id", "state": "ok" | "unknown" | "blocked"}``; ``POST …/fail-next``
  ``{"count", "status"}`` — the next Bot API calls fail with 500 (or the given status);
* ``POST …/reset``.

And ``GET /<username>?start=TOKEN``: a tiny stand-in for Telegram's own page, where a person in the demo
presses Start (``make run`` points deep links here with ``TELEGRAM_LINK_BASE_URL``).

Run alone with ``python -m sandbox.telegram --port 5103``.
"""
from __future__ import annotations

import argparse
import html
import itertools
import threading
import time
from dataclasses import dataclass, field

import requests
from flask import Blueprint, Flask, jsonify, request

DEFAULT_TOKEN = "123456:SANDBOX-bot-token"
DEFAULT_USERNAME = "pokerpay_sandbox_bot"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
#: long polls are capped here (the real API allows 50 s; a test never waits that long)
MAX_LONG_POLL = 30.0


@dataclass
class Bot:
    token: str
    username: str
    bot_id: int
    lock: threading.Condition = field(default_factory=lambda: threading.Condition(threading.Lock()))
    updates: list[dict] = field(default_factory=list)
    next_update_id: int = 0
    messages: list[dict] = field(default_factory=list)
    chats: dict[str, str] = field(default_factory=dict)
    webhook_url: str = ""
    webhook_secret: str = ""
    fail_next: int = 0
    fail_status: int = 500
    offsets_asked: list[int] = field(default_factory=list)
    webhook_answers: list[int] = field(default_factory=list)
    message_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def reset(self, first_update_id: int) -> None:
        with self.lock:
            self.updates.clear()
            self.messages.clear()
            self.chats.clear()
            self.offsets_asked.clear()
            self.webhook_answers.clear()
            self.next_update_id = first_update_id
            self.webhook_url = self.webhook_secret = ""
            self.fail_next = 0
            self.fail_status = 500


def _ok(result):
    return jsonify(ok=True, result=result)


def _error(code: int, description: str, **parameters):
    body = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return jsonify(body), code


def _params() -> dict:
    """Bot API parameters from the query string, a form or a JSON body (the API takes all three)."""
    values = dict(request.args.items())
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            values.update(body)
    else:
        values.update(request.form.items())
    return values


def _int(values: dict, name: str, default: int | None = None) -> int | None:
    value = values.get(name, default)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ValueError(name)
    return int(value)


def create_telegram_app(token: str = DEFAULT_TOKEN, username: str = DEFAULT_USERNAME, *, seed: int = 0) -> Flask:
    """A fresh bot; ``seed`` picks where update ids start (real ids are large and arbitrary)."""
    app = Flask(__name__)
    first_update_id = 700_000_000 + seed * 1000
    bot = Bot(token=token, username=username, bot_id=int(token.split(":", 1)[0]) if token[:1].isdigit() else 1)
    bot.next_update_id = first_update_id
    app.extensions["sandbox_telegram"] = bot
    app.register_blueprint(_api(bot))
    app.register_blueprint(_control(bot, first_update_id))
    return app


def _api(bot: Bot) -> Blueprint:
    bp = Blueprint("telegram_api", __name__)

    @bp.route("/bot<path:token>/<method>", methods=["GET", "POST"])
    def method(token: str, method: str):
        if token != bot.token:
            return _error(401, "Unauthorized")
        handler = METHODS.get(method)
        if handler is None:
            return _error(404, "Not Found")
        with bot.lock:
            if bot.fail_next > 0:
                bot.fail_next -= 1
                return _error(bot.fail_status, "Internal Server Error" if bot.fail_status == 500
                              else "Too Many Requests: retry after 1", **({"retry_after": 1}
                                                                           if bot.fail_status == 429 else {}))
        try:
            return handler(bot, _params())
        except (ValueError, TypeError) as exc:
            return _error(400, f"Bad Request: invalid parameter {exc}")

    return bp


def _get_me(bot: Bot, _values: dict):
    return _ok({"id": bot.bot_id, "is_bot": True, "first_name": "PokerPay (sandbox)", "username": bot.username,
                "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False})


def _get_updates(bot: Bot, values: dict):
    offset = _int(values, "offset", 0)
    limit = max(1, min(100, _int(values, "limit", 100)))
    timeout = max(0.0, min(MAX_LONG_POLL, float(values.get("timeout") or 0)))
    deadline = time.monotonic() + timeout
    with bot.lock:
        if bot.webhook_url:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first")
        bot.offsets_asked.append(offset)
        if offset > 0:  # confirms every update below it: they are never given again
            bot.updates[:] = [u for u in bot.updates if u["update_id"] >= offset]
        while True:
            if offset < 0:
                page = bot.updates[offset:][:limit]
            else:
                page = [u for u in bot.updates if u["update_id"] >= offset][:limit]
            left = deadline - time.monotonic()
            if page or left <= 0:
                return _ok(page)
            bot.lock.wait(left)


def _set_webhook(bot: Bot, values: dict):
    url = str(values.get("url") or "")
    secret = str(values.get("secret_token") or "")
    if secret and (len(secret) > 256 or not set(secret) <= _SECRET_CHARS):
        return _error(400, "Bad Request: secret token contains unallowed characters")
    if url and not url.startswith(("http://", "https://")):
        return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    with bot.lock:
        if str(values.get("drop_pending_updates", "")).lower() in ("true", "1"):
            bot.updates.clear()
        bot.webhook_url, bot.webhook_secret = url, secret
    return jsonify(ok=True, result=True, description="Webhook was set" if url else "Webhook was deleted")


def _delete_webhook(bot: Bot, values: dict):
    with bot.lock:
        if str(values.get("drop_pending_updates", "")).lower() in ("true", "1"):
            bot.updates.clear()
        was_set = bool(bot.webhook_url)
        bot.webhook_url = bot.webhook_secret = ""
    return jsonify(ok=True, result=True, description="Webhook was deleted" if was_set else "Webhook is already deleted")


def _get_webhook_info(bot: Bot, _values: dict):
    with bot.lock:
        return _ok({"url": bot.webhook_url, "has_custom_certificate": False,
                    "pending_update_count": len(bot.updates)})


def _send_message(bot: Bot, values: dict):
    chat_id = values.get("chat_id")
    text = values.get("text")
    if chat_id in (None, ""):
        return _error(400, "Bad Request: chat_id is empty")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "Bad Request: message text is empty")
    if len(text) > 4096:
        return _error(400, "Bad Request: message is too long")
    key = str(chat_id)
    with bot.lock:
        state = bot.chats.get(key, "ok")
        if state == "unknown" or not key.lstrip("-").isdigit():
            return _error(400, "Bad Request: chat not found")
        if state == "blocked":
            return _error(403, "Forbidden: bot was blocked by the user")
        message = {"message_id": next(bot.message_ids), "date": int(time.time()),
                   "chat": {"id": int(key), "type": "private" if not key.startswith("-") else "group"},
                   "from": {"id": bot.bot_id, "is_bot": True, "first_name": "PokerPay (sandbox)",
                            "username": bot.username},
                   "text": text}
        bot.messages.append(message)
    return _ok(message)


METHODS = {"getMe": _get_me, "getUpdates": _get_updates, "setWebhook": _set_webhook,
           "deleteWebhook": _delete_webhook, "getWebhookInfo": _get_webhook_info, "sendMessage": _send_message}


def _deliver(bot: Bot) -> list[int]:
    """POST every waiting update to the webhook, oldest first; each answered 2xx is forgotten (as Telegram does)."""
    with bot.lock:
        url, secret, waiting = bot.webhook_url, bot.webhook_secret, list(bot.updates)
    statuses = []
    for update in waiting:
        headers = {SECRET_HEADER: secret} if secret else {}
        try:
            status = requests.post(url, json=update, headers=headers, timeout=10).status_code
        except requests.RequestException:
            status = 0
        statuses.append(status)
        with bot.lock:
            bot.webhook_answers.append(status)
            if 200 <= status < 300:
                bot.updates[:] = [u for u in bot.updates if u["update_id"] != update["update_id"]]
            else:
                break  # Telegram keeps the order: later updates wait behind an undelivered one
    return statuses


def _inject(bot: Bot, body: dict) -> tuple[dict, int]:
    """A person writes to the bot: the update is queued, and pushed to the webhook if one is set."""
    try:
        chat_id = int(body["chat_id"])
    except (KeyError, TypeError, ValueError):
        return {"error": "chat_id (a number) is required"}, 400
    text = f"/start {body['start']}" if body.get("start") else str(body.get("text") or "")
    if not text:
        return {"error": "text or start is required"}, 400
    chat_type = str(body.get("chat_type") or ("private" if chat_id > 0 else "group"))
    person = {"id": chat_id if chat_type == "private" else 1, "is_bot": False,
              "first_name": str(body.get("first_name") or "Sandbox"),
              "language_code": str(body.get("language_code") or "ru")}
    chat = {"id": chat_id, "type": chat_type}
    chat.update({"first_name": person["first_name"]} if chat_type == "private" else {"title": "Sandbox group"})
    message = {"message_id": next(bot.message_ids), "from": person, "chat": chat, "date": int(time.time()),
               "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    with bot.lock:
        update = {"update_id": bot.next_update_id, "message": message}
        bot.next_update_id += 1
        bot.updates.append(update)
        bot.lock.notify_all()
        url, secret = bot.webhook_url, bot.webhook_secret
    statuses = []
    if url:
        statuses = _deliver(bot)
        for _ in range(max(0, int(body.get("repeat") or 1) - 1)):  # Telegram re-sends one it thinks was lost
            try:
                statuses.append(requests.post(url, json=update, timeout=10,
                                              headers={SECRET_HEADER: secret} if secret else {}).status_code)
            except requests.RequestException:
                statuses.append(0)
    return {"update": update, "webhook_statuses": statuses}, 200


def _control(bot: Bot, first_update_id: int) -> Blueprint:
    bp = Blueprint("telegram_control", __name__)

    @bp.post("/_sandbox/telegram/updates")
    def inject():
        answer, status = _inject(bot, request.get_json(force=True, silent=True) or {})
        return jsonify(answer), status

    @bp.get("/_sandbox/telegram/messages")
    def messages():
        chat_id = request.args.get("chat_id")
        with bot.lock:
            found = [m for m in bot.messages if chat_id is None or str(m["chat"]["id"]) == chat_id]
        return jsonify(messages=found)

    @bp.get("/_sandbox/telegram/state")
    def state():
        with bot.lock:
            return jsonify(webhook_url=bot.webhook_url, webhook_secret_set=bool(bot.webhook_secret),
                           pending=[u["update_id"] for u in bot.updates], offsets_asked=list(bot.offsets_asked),
                           webhook_answers=list(bot.webhook_answers), username=bot.username)

    @bp.post("/_sandbox/telegram/chats")
    def chats():
        body = request.get_json(force=True, silent=True) or {}
        state = body.get("state", "ok")
        if state not in ("ok", "unknown", "blocked") or body.get("chat_id") in (None, ""):
            return jsonify(error="chat_id and state (ok, unknown, blocked) are required"), 400
        with bot.lock:
            bot.chats[str(body["chat_id"])] = state
        return jsonify(chat_id=str(body["chat_id"]), state=state)

    @bp.post("/_sandbox/telegram/fail-next")
    def fail_next():
        body = request.get_json(force=True, silent=True) or {}
        with bot.lock:
            bot.fail_next = int(body.get("count", 1))
            bot.fail_status = int(body.get("status", 500))
        return jsonify(fail_next=bot.fail_next, status=bot.fail_status)

    @bp.post("/_sandbox/telegram/reset")
    def reset():
        bot.reset(first_update_id)
        return jsonify(ok=True)

    @bp.route(f"/{bot.username}", methods=["GET", "POST"])
    def start_page():
        """Telegram's page for a deep link, played for the demo: "Start" writes ``/start TOKEN`` to the bot."""
        token = request.values.get("start", "")
        if request.method == "POST":
            answer, _status = _inject(bot, {"chat_id": request.form.get("chat_id") or 100_000_001, "start": token,
                                            "language_code": request.form.get("lang", "ru")})
            sent = html.escape(str(answer.get("update", {}).get("message", {}).get("text", "")))
            return (f"<!doctype html><meta charset=utf-8><title>Telegram (sandbox)</title>"
                    f"<h1>@{html.escape(bot.username)}</h1><p>Отправлено / sent: <code>{sent}</code></p>"
                    f"<p>Вернитесь на страницу PokerPay / Go back to PokerPay.</p>")
        return (f"<!doctype html><meta charset=utf-8><title>Telegram (sandbox)</title>"
                f"<h1>@{html.escape(bot.username)}</h1>"
                f"<p>Песочница Telegram: кнопка «Start» пишет боту <code>/start …</code>.<br>"
                f"Telegram sandbox: “Start” writes <code>/start …</code> to the bot.</p>"
                f"<form method=post><input type=hidden name=start value=\"{html.escape(token)}\">"
                f"<label>Chat id <input name=chat_id value=100000001 inputmode=numeric></label> "
                f"<button>Start</button></form>")

    return bp


def main() -> None:
    from sandbox.server import serve

    parser = argparse.ArgumentParser(description="the sandbox Telegram Bot API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5103)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    args = parser.parse_args()
    running = serve(create_telegram_app(args.token, args.username), host=args.host, port=args.port)
    print(f"sandbox telegram: {running.url}/bot<token>/getMe", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
