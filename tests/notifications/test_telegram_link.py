"""Linking Telegram without typing a chat id: the deep link, the bot's updates (webhook and polling), unlinking.

Everything goes over real HTTP: the app's pages through its test client, the bot through the sandbox Bot API
(sandbox/telegram.py), which in webhook mode POSTs updates to the app served on a loopback port.
"""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.database import utcnow
from app.extensions import db
from app.models import AuditEvent
from app.models.notification import NotificationDelivery, NotificationSettings
from app.models.telegram import TelegramLinkToken, TelegramPollState, TelegramReply, TelegramUpdate
from app.notifications import inbox
from sandbox.server import serve
from tests.concurrent_requests import post_at_once, signed_in_clients, statuses
from tests.helpers import csrf_from, gen_user
from tests.notifications.conftest import quick_user
from tests.sandboxes import BOT_TOKEN, BOT_USERNAME

SECRET = "webhook-Secret_42"
_LINK = re.compile(r'href="(https://t\.me/' + BOT_USERNAME + r'\?start=([A-Za-z0-9_-]+))"')


@pytest.fixture
def bot_app(app_factory, telegram):
    """The app with the sandbox bot; served without a fixed SERVER_NAME, so the bot's webhook calls reach it."""
    return app_factory(SERVER_NAME=None, TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=telegram.url,
                       TELEGRAM_TIMEOUT=2.0, TELEGRAM_UPDATES="polling", TELEGRAM_WEBHOOK_SECRET=SECRET,
                       NOTIFY_RETRY_BASE_SECONDS=0, NOTIFY_MAX_ATTEMPTS=3)


class Person:
    def __init__(self, user) -> None:
        self.id = user.id
        self.login_id = user.get_id()


class Web:
    """A signed-in browser of one person, and short app contexts for looking at the database."""

    def __init__(self, app, person: Person | None = None) -> None:
        self.app = app
        self.client = app.test_client()
        if person is not None:
            with self.client.session_transaction() as session:
                session["_user_id"] = person.login_id
                session["_fresh"] = True

    def look(self, fn):
        with self.app.app_context():
            try:
                result = fn()
                db.session.commit()
                return result
            finally:
                db.session.remove()

    def settings_page(self) -> str:
        return self.client.get("/notifications/settings").get_data(as_text=True)

    def connect(self):
        token = csrf_from(self.settings_page())
        return self.client.post("/notifications/telegram/connect", data={"csrf_token": token})

    def deep_link(self) -> tuple[str, str]:
        response = self.connect()
        assert response.status_code == 200, response.get_data(as_text=True)
        found = _LINK.search(response.get_data(as_text=True))
        assert found, "no deep link on the page"
        return found.group(1), found.group(2)

    def status(self):
        return self.client.get("/notifications/telegram/status", headers={"HX-Request": "true"})

    def poll(self) -> dict:
        from app.jobs.telegram import poll_once

        return self.look(poll_once)

    def sweep_replies(self) -> dict:
        from app.jobs.telegram import sweep_replies

        return self.look(sweep_replies.__wrapped__)


def _person(app, email: str = "alice@example.com", locale: str = "en") -> Person:
    with app.app_context():
        person = Person(quick_user(email, locale=locale))
        db.session.remove()
    return person


def _chat_of(web: Web, person: Person) -> str | None:
    return web.look(lambda: (s := db.session.get(NotificationSettings, person.id)) and s.telegram_chat_id)


def _count(web: Web, model) -> int:
    return web.look(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(model)))


def _texts(telegram, chat_id: int) -> list[str]:
    return [m["text"] for m in telegram.messages if m["chat"]["id"] == chat_id]


def _audits(web: Web, action: str) -> list[tuple[int | None, dict]]:
    """(actor id, details) of each audit event of ``action``."""
    return web.look(lambda: [(e.actor_id, e.details) for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action))])


# -- the deep link ----------------------------------------------------------------------------


def test_connect_makes_a_one_time_deep_link_and_keeps_only_its_hash(bot_app, telegram):
    """Does "Connect Telegram" show t.me/<bot, from getMe>?start=<random token>, store only its SHA-256, and audit it?"""
    alice = _person(bot_app)
    web = Web(bot_app, alice)
    page = web.settings_page()
    assert "Connect Telegram" in page and "telegram_chat_id" not in page
    url, token = web.deep_link()
    assert url == f"https://t.me/{BOT_USERNAME}?start={token}" and len(token) == 32
    rows = web.look(lambda: [(t.user_id, t.token_hash, t.used_at) for t in db.session.scalars(sa.select(TelegramLinkToken))])
    assert rows == [(alice.id, hashlib.sha256(token.encode()).hexdigest(), None)]
    _url2, token2 = web.deep_link()  # a second link replaces the first
    assert token2 != token and _count(web, TelegramLinkToken) == 1
    assert len(_audits(web, "notifications.telegram_link_started")) == 2


def test_start_with_the_token_links_the_chat_and_the_bot_says_so(bot_app, telegram):
    """Pressing Start on the link (polling mode): is the chat linked, notifications on, and "linked" answered?"""
    alice = _person(bot_app)
    web = Web(bot_app, alice)
    _url, token = web.deep_link()
    assert web.status().status_code == 204  # still waiting: the page keeps its link
    telegram.write(5551, start=token, language_code="en")
    assert web.poll() == {"updates": 1, "new": 1, "answered": 1}
    assert _chat_of(web, alice) == "5551"
    assert _texts(telegram, 5551) == ["Done: PokerPay notifications will come to this chat. To stop them, press "
                                      "“Disconnect” in Notification channels."]
    panel = web.status()
    assert panel.status_code == 200 and 'data-state="linked"' in panel.get_data(as_text=True)
    assert "hx-trigger" not in panel.get_data(as_text=True)  # linked: the panel stops polling
    assert web.look(lambda: inbox.chosen_channels(alice.id)) == ["telegram"]
    [(actor, details)] = _audits(web, "notifications.telegram_linked")
    assert actor == alice.id and details["chat_id"] == "5551"


def test_a_used_expired_or_unknown_token_links_nothing_and_gets_a_polite_answer(bot_app, telegram):
    """Is a second use, an expired link, a made-up token, a group chat each refused in words, linking nothing?"""
    alice, bob = _person(bot_app), _person(bot_app, "bob@example.com")
    web, bobs = Web(bot_app, alice), Web(bot_app, bob)
    _url, token = web.deep_link()
    telegram.write(100, start=token, language_code="en")
    _url, stale = bobs.deep_link()
    bobs.look(lambda: db.session.execute(sa.update(TelegramLinkToken).where(TelegramLinkToken.user_id == bob.id)
                                         .values(created_at=utcnow() - timedelta(hours=2),
                                                 expires_at=utcnow() - timedelta(hours=1))))
    telegram.write(200, start=token, language_code="en")  # the same link again, from another chat
    telegram.write(300, start=stale, language_code="en")
    telegram.write(400, start="made-up-token", language_code="en")
    telegram.write(500, start="x" * 70)  # longer than any token: refused in Russian (the default)
    telegram.write(-600, start=token, chat_type="group", language_code="en")
    telegram.write(700, "/start", language_code="en")
    telegram.write(800, "hello there")  # chatter: no answer
    assert web.poll()["updates"] == 8
    assert _chat_of(web, alice) == "100" and _chat_of(web, bob) is None
    assert _texts(telegram, 200)[0].startswith("This link has already been used.")
    assert _texts(telegram, 300)[0].startswith("This link has expired.")
    assert _texts(telegram, 400)[0].startswith("This link is not valid.")
    assert _texts(telegram, 500)[0].startswith("Ссылка недействительна.")
    assert _texts(telegram, -600) == ["Notifications can only go to a private chat with the bot, not to a group."]
    assert _texts(telegram, 700)[0].startswith("Hello!") and _texts(telegram, 800) == []
    outcomes = web.look(lambda: dict(db.session.execute(sa.select(TelegramUpdate.chat_id, TelegramUpdate.outcome)).all()))
    assert outcomes == {"100": "linked", "200": "refused", "300": "refused", "400": "refused", "500": "refused",
                        "-600": "refused", "700": "ignored", None: "ignored"}
    assert len(_audits(web, "notifications.telegram_linked")) == 1


def test_another_users_link_cannot_be_taken_over(bot_app, telegram):
    """Once Alice's link is used, can Bob's chat re-use it, or Bob's own link or unlinking touch Alice's chat?"""
    alice, bob = _person(bot_app), _person(bot_app, "bob@example.com")
    web, bobs = Web(bot_app, alice), Web(bot_app, bob)
    _url, token = web.deep_link()
    telegram.write(111, start=token)
    web.poll()
    telegram.write(222, start=token)  # Bob saw Alice's link (a forwarded message, a screenshot)
    web.poll()
    assert _chat_of(web, alice) == "111"
    bobs.client.post("/notifications/telegram/disconnect", data={"csrf_token": csrf_from(bobs.settings_page())})
    assert _chat_of(web, alice) == "111"
    _url, bob_token = bobs.deep_link()
    assert 'data-state="linked"' not in bobs.settings_page() and bobs.status().status_code == 204
    # Bob's link still belongs to Bob: it links his chat, not Alice's account
    telegram.write(222, start=bob_token)
    web.poll()
    assert (_chat_of(web, alice), _chat_of(web, bob)) == ("111", "222")


def test_link_creation_is_rate_limited(bot_app, telegram):
    """Past TELEGRAM_LINK_RATE_LIMIT, is "Connect Telegram" refused with 429 and no token made?"""
    bot_app.config["TELEGRAM_LINK_RATE_LIMIT"] = "3 per minute"
    web = Web(bot_app, _person(bot_app))
    assert [web.connect().status_code for _ in range(4)] == [200, 200, 200, 429]
    assert len(_audits(web, "notifications.telegram_link_started")) == 3


def test_telegram_down_connect_says_so_and_writes_nothing(bot_app, telegram):
    """When getMe cannot be answered (no username configured), is the person told so, with nothing stored?"""
    bot_app.config["TELEGRAM_API_URL"] = "http://127.0.0.1:9"
    bot_app.config["TELEGRAM_BOT_TOKEN"] = "999:not-the-cached-bot"
    web = Web(bot_app, _person(bot_app))
    response = web.connect()
    assert response.status_code == 422 and "Telegram does not answer right now" in response.get_data(as_text=True)
    assert _count(web, TelegramLinkToken) == 0 and _audits(web, "notifications.telegram_link_started") == []


def test_concurrent_connects_leave_one_live_link(bot_app, telegram, database):
    """Twelve "Connect Telegram" at the same instant (PostgreSQL): no 5xx, and exactly one link still works."""
    if database.kind != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property; SQLite serialises writers by design")
    bot_app.config["TELEGRAM_LINK_RATE_LIMIT"] = "100 per minute"
    with bot_app.app_context():
        gen_user("racer@example.com")
        db.session.remove()
    clients, token = signed_in_clients(bot_app, "racer@example.com", 12)
    results = post_at_once(clients, "/notifications/telegram/connect", lambda i: {"csrf_token": token})
    assert statuses(results) == [200] * 12
    web = Web(bot_app)
    assert _count(web, TelegramLinkToken) == 1
    live = [_LINK.search(r.get_data(as_text=True)).group(2) for r in results]
    stored = web.look(lambda: db.session.scalar(sa.select(TelegramLinkToken.token_hash)))
    assert [hashlib.sha256(t.encode()).hexdigest() for t in live].count(stored) == 1


# -- the webhook ------------------------------------------------------------------------------


@pytest.fixture
def webhook(bot_app, telegram):
    """Webhook mode: the app served on a loopback port, the sandbox bot told to POST updates there."""
    bot_app.config["TELEGRAM_UPDATES"] = "webhook"
    served = serve(bot_app)
    answer = telegram.api("setWebhook", url=f"{served.url}/telegram/webhook", secret_token=SECRET)
    assert answer == {"ok": True, "result": True, "description": "Webhook was set"}
    yield served.url + "/telegram/webhook"
    served.stop()


def test_the_webhook_refuses_a_missing_or_wrong_secret(bot_app, telegram, webhook):
    """Is an update without the secret header, or with a wrong one, refused (401) with nothing written?"""
    client = bot_app.test_client()
    update = {"update_id": 1, "message": {"message_id": 1, "chat": {"id": 9, "type": "private"}, "text": "/start"}}
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                    {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}, {"X-Telegram-Bot-Api-Secret-Token": ""}):
        response = client.post("/telegram/webhook", json=update, headers=headers)
        assert response.status_code == 401 and response.get_json()["ok"] is False
    assert _count(Web(bot_app), TelegramUpdate) == 0
    good = client.post("/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert good.status_code == 200 and good.get_json() == {"ok": True}
    bad = client.post("/telegram/webhook", data="[1, 2", content_type="application/json",
                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert bad.status_code == 400 and _count(Web(bot_app), TelegramUpdate) == 1
    bot_app.config["TELEGRAM_UPDATES"] = "polling"  # the other mode: the endpoint is not there
    assert client.post("/telegram/webhook", json=update,
                       headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code == 404


def test_an_update_delivered_twice_links_once_and_answers_once(bot_app, telegram, webhook):
    """Telegram re-sends an update (its webhook call looked lost): one link, one audit event, one answer."""
    alice = _person(bot_app)
    web = Web(bot_app, alice)
    _url, token = web.deep_link()
    sent = telegram.write(4242, start=token, repeat=3, language_code="en")
    assert sent["webhook_statuses"] == [200, 200, 200]
    assert _chat_of(web, alice) == "4242"
    assert _count(web, TelegramUpdate) == 1 and _count(web, TelegramReply) == 1
    web.sweep_replies()  # the worker's job (queued after the commit) or the sweeper sends the answer
    web.sweep_replies()
    assert len(_texts(telegram, 4242)) == 1 and _texts(telegram, 4242)[0].startswith("Done:")
    assert len(_audits(web, "notifications.telegram_linked")) == 1
    assert telegram.state()["pending"] == []  # answered 200: Telegram forgets it


def test_the_same_update_delivered_at_once_many_times_links_once(bot_app, telegram, webhook, database):
    """Eight deliveries of one update at the same instant (PostgreSQL): all 200, one update, one link, one answer."""
    import threading

    import requests

    if database.kind != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property; SQLite serialises writers by design")
    alice = _person(bot_app)
    web = Web(bot_app, alice)
    _url, token = web.deep_link()
    update = {"update_id": 9_000_001, "message": {"message_id": 5, "date": 0, "text": f"/start {token}",
                                                  "from": {"id": 4343, "is_bot": False, "language_code": "en"},
                                                  "chat": {"id": 4343, "type": "private"}}}
    barrier, answers = threading.Barrier(8), []

    def deliver():
        barrier.wait(timeout=30)
        answers.append(requests.post(webhook, json=update, timeout=30,
                                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [200] * 8
    assert (_count(web, TelegramUpdate), _count(web, TelegramReply)) == (1, 1)
    assert _chat_of(web, alice) == "4343" and len(_audits(web, "notifications.telegram_linked")) == 1
    web.sweep_replies()
    assert len(_texts(telegram, 4343)) == 1


def test_polling_is_refused_while_a_webhook_is_set(bot_app, telegram, webhook):
    """Both modes cannot run at once: getUpdates answers 409 while a webhook is set, and the poller says so."""
    bot_app.config["TELEGRAM_UPDATES"] = "polling"
    result = Web(bot_app).poll()
    assert result == {"error": "Telegram: Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first"}


# -- polling ----------------------------------------------------------------------------------


def test_the_poll_offset_survives_a_restart(bot_app, app_factory, telegram):
    """After a restart (a new app, a new process), does polling go on from the stored offset, handling nothing twice?"""
    alice = _person(bot_app)
    web = Web(bot_app, alice)
    _url, token = web.deep_link()
    first = telegram.write(31, start=token)["update"]["update_id"]
    telegram.write(32, "hello")
    assert web.poll()["updates"] == 2
    assert web.look(lambda: db.session.get(TelegramPollState, 1).next_offset) == first + 2
    restarted = Web(app_factory(SERVER_NAME=None, TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=telegram.url))
    assert restarted.poll() == {"updates": 0, "new": 0, "answered": 0}
    third = telegram.write(33, "/start")["update"]["update_id"]
    assert restarted.poll() == {"updates": 1, "new": 1, "answered": 1}
    assert telegram.state()["offsets_asked"] == [0, first + 2, first + 2]
    assert restarted.look(lambda: db.session.get(TelegramPollState, 1).next_offset) == third + 1
    # An old page handed over again (a second poller that read it before the offset moved) changes nothing.
    from app.notifications import telegram_updates

    replay = {"update_id": first, "message": {"chat": {"id": 99, "type": "private"}, "text": f"/start {token}"}}
    assert restarted.look(lambda: telegram_updates.accept_batch([replay], "polling"))[0].new is False
    assert _chat_of(web, alice) == "31" and len(_texts(telegram, 31)) == 1


def test_a_failed_poll_keeps_the_offset_and_a_failed_answer_is_retried_once(bot_app, telegram):
    """getUpdates failing stores nothing; the next poll links; a refused answer is retried until sent once."""
    alice = _person(bot_app)
    web = Web(bot_app, alice)
    _url, token = web.deep_link()
    telegram.write(61, start=token)
    telegram.fail_next(1)
    assert web.poll() == {"error": "Telegram: Internal Server Error"}
    assert _chat_of(web, alice) is None and _count(web, TelegramPollState) == 0
    assert web.poll() == {"updates": 1, "new": 1, "answered": 1}
    assert _chat_of(web, alice) == "61" and len(_texts(telegram, 61)) == 1


def test_a_failed_answer_is_retried_until_sent_once(bot_app, telegram):
    """The bot's answer is refused (502), then sent by the sweeper: exactly one message, after two attempts."""
    from app.notifications import telegram_updates

    web = Web(bot_app, _person(bot_app))
    telegram.write(62, "/start")
    updates = telegram.api("getUpdates", offset=0)["result"]  # what the poller reads, handed over as it would be
    [accepted] = web.look(lambda: telegram_updates.accept_batch(updates, "polling"))
    telegram.fail_next(1, status=502)
    assert web.sweep_replies() == {"released": 0, "sent": 0, "retry": 1, "failed": 0}
    assert web.sweep_replies()["sent"] == 1 and web.sweep_replies()["sent"] == 0
    assert len(_texts(telegram, 62)) == 1
    reply = web.look(lambda: (r := db.session.get(TelegramReply, accepted.reply_id)) and (r.status, r.attempts, r.last_error))
    assert reply == ("sent", 2, None)


# -- unlinking --------------------------------------------------------------------------------


def test_disconnect_unlinks_audits_and_stops_deliveries(bot_app, telegram):
    """"Disconnect" (CSRF-checked): is the chat forgotten, the change audited, and nothing more sent there?"""
    alice = _person(bot_app)
    web = Web(bot_app, alice)
    _url, token = web.deep_link()
    telegram.write(77, start=token)
    web.poll()
    page = web.settings_page()
    assert 'data-state="linked"' in page and "Disconnect" in page
    assert web.client.post("/notifications/telegram/disconnect").status_code == 400  # no CSRF token
    assert _chat_of(web, alice) == "77"
    response = web.client.post("/notifications/telegram/disconnect", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert _chat_of(web, alice) is None and "Connect Telegram" in web.settings_page()
    [(actor, details)] = _audits(web, "notifications.telegram_unlinked")
    assert actor == alice.id and details["chat_id"] == "77"
    web.look(lambda: inbox.notify(alice.id, "cash_out_sent", "cash-out-sent:1", cash_out_id=1, amount=1))
    assert _count(web, NotificationDelivery) == 0


def test_the_webhook_is_set_and_removed_by_command(bot_app, telegram):
    """`flask telegram set-webhook` points the bot at PUBLIC_BASE_URL/telegram/webhook with the secret (webhook
    mode only); `delete-webhook` lets polling work again."""
    runner = bot_app.test_cli_runner()
    refused = runner.invoke(args=["telegram", "set-webhook"])
    assert refused.exit_code != 0 and "TELEGRAM_UPDATES=webhook" in refused.output
    bot_app.config.update(TELEGRAM_UPDATES="webhook", PUBLIC_BASE_URL="https://pay.example")
    done = runner.invoke(args=["telegram", "set-webhook"])
    assert done.exit_code == 0, done.output
    state = telegram.state()
    assert state["webhook_url"] == "https://pay.example/telegram/webhook" and state["webhook_secret_set"]
    assert BOT_TOKEN not in done.output and SECRET not in done.output
    assert runner.invoke(args=["telegram", "delete-webhook"]).exit_code == 0
    assert telegram.state()["webhook_url"] == ""
