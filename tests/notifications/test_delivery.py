"""E-mail and Telegram deliveries: sent exactly once through the local fakes, retried after a failure."""
from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from app.core.after_commit import get_queue
from app.database import utcnow
from app.extensions import db
from app.jobs.notifications import deliver_now, sweep_deliveries
from app.models.notification import NotificationDelivery
from app.notifications import inbox, outbox
from tests.notifications.conftest import BOT_TOKEN, link_telegram, quick_user


def _user(locale: str = "en", chat_id: int = 424242):
    user = quick_user("user@example.com", locale=locale)
    link_telegram(user, chat_id)
    inbox.save_settings(user, email_enabled=True, telegram_enabled=True)
    db.session.commit()
    return user


def _event(user, n: int = 1) -> int:
    notification_id = inbox.notify(user.id, "cash_out_sent", f"cash-out-sent:{n}", cash_out_id=n,
                                           amount=12_34)
    db.session.commit()
    return notification_id


def _deliveries() -> dict[str, NotificationDelivery]:
    db.session.expire_all()
    return {d.channel: d for d in db.session.scalars(sa.select(NotificationDelivery))}


def _sweep() -> dict:
    return sweep_deliveries.__wrapped__()


def test_each_channel_gets_the_message_once(ctx, smtp, telegram):
    """Is a notification queued after the commit and sent once by e-mail and once to Telegram, however often re-driven?"""
    user = _user()
    _event(user)
    deliveries = _deliveries()
    assert {c: d.status for c, d in deliveries.items()} == {"email": "pending", "telegram": "pending"}
    queued = set(get_queue().job_ids)
    assert {f"notification-delivery-{d.id}" for d in deliveries.values()} <= queued
    for delivery in deliveries.values():
        assert deliver_now(delivery.id) == "sent"
        assert deliver_now(delivery.id) == "not due"  # a duplicate job sends nothing
    _sweep()
    assert {c: (d.status, d.attempts) for c, d in _deliveries().items()} == {
        "email": ("sent", 1), "telegram": ("sent", 1)}
    [(to, mail)] = smtp.messages
    assert to == ["user@example.com"] and mail["Subject"] == "Cash-out sent"
    assert "$12.34 were sent to your room account." in mail.get_content()
    assert "http://127.0.0.1:9/wallet/" in mail.get_content()
    assert mail["Message-ID"] == f"<pokerpay-notification-{deliveries['email'].notification_id}-email@pokerpay.test>"
    [message] = telegram.messages
    assert message["chat"]["id"] == 424242 and message["text"].startswith("Cash-out sent\n")


def test_a_failed_send_is_retried_until_it_goes_through_once(ctx, smtp, telegram):
    """After the channel fails (SMTP 451, Bot API 500), does the sweeper retry and deliver exactly one copy?"""
    user = _user()
    smtp.fail_next = 1
    telegram.fail_next(2)
    _event(user)
    for delivery in _deliveries().values():
        assert deliver_now(delivery.id) == "retry"
    state = _deliveries()
    assert state["email"].last_error == "the mail server answered 451"
    assert state["telegram"].last_error == "Telegram: Internal Server Error"
    assert _sweep() == {"released": 0, "sent": 1, "retry": 1, "failed": 0}
    assert _sweep() == {"released": 0, "sent": 1, "retry": 0, "failed": 0}
    assert _sweep()["sent"] == 0
    assert {c: (d.status, d.attempts) for c, d in _deliveries().items()} == {
        "email": ("sent", 2), "telegram": ("sent", 3)}
    assert len(smtp.messages) == 1 and len(telegram.messages) == 1


def test_retries_stop_at_the_limit_and_a_bad_chat_fails_at_once(ctx, smtp, telegram):
    """Does a delivery give up after NOTIFY_MAX_ATTEMPTS, and a permanent refusal after one try?"""
    user = _user(chat_id=777)
    telegram.chat(777, "unknown")
    smtp.fail_next = 10
    _event(user)
    for _ in range(4):
        _sweep()
    state = _deliveries()
    assert (state["email"].status, state["email"].attempts) == ("failed", 3)
    assert (state["telegram"].status, state["telegram"].attempts) == ("failed", 1)
    assert state["telegram"].last_error == "Telegram: Bad Request: chat not found"
    assert smtp.messages == [] and telegram.messages == []


def test_a_claimed_delivery_is_not_sent_by_a_second_worker(ctx, smtp, telegram):
    """Can two workers both claim one delivery? (No.) And is a claim left by a crashed worker re-driven?"""
    user = _user()
    _event(user)
    email = _deliveries()["email"]
    first = outbox.claim(email.id)
    db.session.commit()
    assert first is not None
    assert outbox.claim(email.id) is None and deliver_now(email.id) == "not due"
    assert _sweep()["released"] == 0  # a fresh claim is left alone
    # The worker died after claiming: once the claim is stale the sweeper sends it (the documented gap).
    db.session.execute(sa.update(NotificationDelivery).where(NotificationDelivery.id == email.id)
                       .values(updated_at=utcnow() - outbox.STALE_SENDING - timedelta(seconds=1)))
    db.session.commit()
    assert _sweep()["released"] == 1
    assert _deliveries()["email"].status == "sent" and len(smtp.messages) == 1


def test_the_bot_token_never_reaches_logs_or_the_database(ctx, telegram, caplog):
    """When Telegram is unreachable, is the reason stored and logged without the token (part of the URL)?"""
    user = _user()
    ctx.config["TELEGRAM_API_URL"] = "http://127.0.0.1:9"
    inbox.save_settings(user, email_enabled=False, telegram_enabled=True)
    db.session.commit()
    _event(user)
    with caplog.at_level(logging.DEBUG):
        assert deliver_now(_deliveries()["telegram"].id) == "retry"
    assert _deliveries()["telegram"].last_error == "Telegram unreachable (ConnectionError)"
    assert BOT_TOKEN not in caplog.text and BOT_TOKEN.split(":")[1] not in caplog.text


def test_messages_follow_the_users_language(ctx, smtp, telegram):
    """Is an outside message written in the recipient's language, not the worker's?"""
    russian = _user(locale="ru")
    english = quick_user("en@example.com", locale="en")
    inbox.save_settings(english, email_enabled=True, telegram_enabled=False)
    db.session.commit()
    _event(russian, 1)
    _event(english, 2)
    _sweep()
    subjects = {to[0]: mail["Subject"] for to, mail in smtp.messages}
    assert subjects["en@example.com"] == "Cash-out sent"
    assert "12,34" in [m for to, m in smtp.messages if to == ["user@example.com"]][0].get_content()


def test_no_channel_chosen_means_no_delivery(ctx):
    """Does a user who chose no channel get the notification in-app only?"""
    user = quick_user("quiet@example.com")
    _event(user)
    assert _deliveries() == {}


def test_an_rq_worker_runs_the_queued_delivery_jobs(ctx, smtp, telegram):
    """Do the jobs queued after the commit, run by a real RQ worker, deliver each message once?"""
    from rq import SimpleWorker

    user = _user()
    _event(user)
    queue = get_queue()
    queue.enqueue("app.jobs.notifications.send_delivery", _deliveries()["email"].id)  # a duplicate job
    db.session.commit()  # end this session's transaction: on SQLite even a read holds the write lock
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert {c: d.status for c, d in _deliveries().items()} == {"email": "sent", "telegram": "sent"}
    assert len(smtp.messages) == 1 and len(telegram.messages) == 1
