"""The notification centre in the browser: the bell, the list, marking read, channels — with access checks."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models.notification import Notification, NotificationSettings
from app.notifications import inbox
from tests.helpers import csrf_from
from tests.notifications.conftest import quick_user


class Person:
    """What a test needs of a user once its app context is gone."""

    def __init__(self, user) -> None:
        self.id = user.id
        self.login_id = user.get_id()


def sign_in(client, person: Person) -> None:
    """Put the user in the client's session as Flask-Login does (the login form has its own tests)."""
    with client.session_transaction() as session:
        session["_user_id"] = person.login_id
        session["_fresh"] = True


@pytest.fixture
def web(notify_app):
    """A test client and ``setup(fn)``, which runs ``fn()`` in a short app context of its own (committed)."""
    def setup(fn):
        with notify_app.app_context():
            result = fn()
            db.session.commit()
            return result

    return notify_app.test_client(), setup


def _people_with_notes(setup):
    def make():
        alice = quick_user("alice@example.com", locale="en")
        bob = quick_user("bob@example.com", locale="en")
        ids = [inbox.notify(alice.id, "cash_out_sent", f"cash-out-sent:{n}", cash_out_id=n, amount=5_00)
               for n in (1, 2, 3)]
        bobs = inbox.notify(bob.id, "credit_received", "credit-received:1:2", amount=1_00, commission=0)
        return Person(alice), Person(bob), ids, bobs

    return setup(make)


def _unread(setup, note_id: int) -> bool:
    return setup(lambda: db.session.get(Notification, note_id).read_at is None)


def test_bell_counts_unread_and_mark_read_lowers_it(web):
    """Does the bell show the unread count, and do mark-one and mark-all bring it down?"""
    client, setup = web
    alice, _bob, ids, _ = _people_with_notes(setup)
    sign_in(client, alice)
    page = client.get("/notifications/").get_data(as_text=True)
    assert 'id="notification-bell-slot"' in page and 'hx-trigger="load, every 10s' in page
    assert page.count("Cash-out sent") == 3 and "3 unread" in page
    assert 'data-unread="3"' in client.get("/notifications/bell").get_data(as_text=True)
    token = csrf_from(page)
    response = client.post(f"/notifications/{ids[0]}/read", data={"csrf_token": token})
    assert response.status_code == 302
    assert 'data-unread="2"' in client.get("/notifications/bell").get_data(as_text=True)
    response = client.post(f"/notifications/{ids[1]}/read", data={"csrf_token": token},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "notifications-changed"
    assert f'id="notification-{ids[1]}"' in response.get_data(as_text=True)
    assert "Mark as read" not in response.get_data(as_text=True)
    client.post("/notifications/read-all", data={"csrf_token": token})
    bell = client.get("/notifications/bell").get_data(as_text=True)
    assert "data-unread" not in bell and 'aria-label="Notifications"' in bell
    assert not any(_unread(setup, i) for i in ids)


def test_opening_a_notification_marks_it_read_and_goes_to_its_page(web):
    """Does clicking a notification mark it read and lead to the page it is about?"""
    client, setup = web
    alice, _bob, ids, _ = _people_with_notes(setup)
    sign_in(client, alice)
    token = csrf_from(client.get("/notifications/").get_data(as_text=True))
    response = client.post(f"/notifications/{ids[2]}/read", data={"csrf_token": token, "go": "1"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/wallet/")
    assert not _unread(setup, ids[2])


def test_another_users_notification_is_not_found(web):
    """Can a user mark (or learn about) someone else's notification? (404, nothing changes.)"""
    client, setup = web
    alice, _bob, _ids, bobs = _people_with_notes(setup)
    sign_in(client, alice)
    page = client.get("/notifications/").get_data(as_text=True)
    assert "Deposit credited" not in page
    response = client.post(f"/notifications/{bobs}/read", data={"csrf_token": csrf_from(page), "go": "1"})
    assert response.status_code == 404
    assert client.post("/notifications/999999/read", data={"csrf_token": csrf_from(page)}).status_code == 404
    assert _unread(setup, bobs)


def test_mark_read_without_csrf_token_is_refused(web):
    """Is marking read refused without the CSRF token (and nothing marked)?"""
    client, setup = web
    alice, _bob, ids, _ = _people_with_notes(setup)
    sign_in(client, alice)
    assert client.post(f"/notifications/{ids[0]}/read").status_code == 400
    assert client.post("/notifications/read-all", data={"csrf_token": "forged"}).status_code == 400
    assert _unread(setup, ids[0])


def test_signed_out_bell_poll_redirects_to_login(web):
    """Does a bell poll after the session ended tell htmx to go to the login page?"""
    client, _setup = web
    response = client.get("/notifications/bell", headers={"HX-Request": "true"})
    assert response.status_code == 401 and "/login" in response.headers["HX-Redirect"]
    assert client.get("/notifications/").status_code == 302


def test_channel_settings_validate_save_and_audit(web):
    """Are bad channel settings refused with a reason (nothing saved), and good ones saved and audited?"""
    client, setup = web
    alice, _bob, _ids, _ = _people_with_notes(setup)
    sign_in(client, alice)
    page = client.get("/notifications/settings").get_data(as_text=True)
    assert "In Telegram" in page and "By e-mail" in page
    token = csrf_from(page)
    bad = client.post("/notifications/settings", data={"csrf_token": token, "telegram": "y",
                                                       "telegram_chat_id": "@me; drop"})
    assert bad.status_code == 422 and "A Telegram chat id is a number" in bad.get_data(as_text=True)
    missing = client.post("/notifications/settings", data={"csrf_token": token, "telegram": "y"})
    assert missing.status_code == 422 and "Enter your Telegram chat id" in missing.get_data(as_text=True)
    assert setup(lambda: db.session.get(NotificationSettings, alice.id)) is None
    ok = client.post("/notifications/settings", data={"csrf_token": token, "email": "y", "telegram": "y",
                                                      "telegram_chat_id": " 123456789 "})
    assert ok.status_code == 302

    def saved():
        s = db.session.get(NotificationSettings, alice.id)
        events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "notifications.channels_changed"))
        return (s.email_enabled, s.telegram_enabled, s.telegram_chat_id), [e.actor_id for e in events]

    assert setup(saved) == ((True, True, "123456789"), [alice.id])


def test_channels_not_configured_cannot_be_chosen(web, notify_app):
    """With no SMTP host and no bot token, does the page say so and save no channel?"""
    client, setup = web
    notify_app.config.update(SMTP_HOST="", TELEGRAM_BOT_TOKEN="")
    alice, _bob, _ids, _ = _people_with_notes(setup)
    sign_in(client, alice)
    page = client.get("/notifications/settings").get_data(as_text=True)
    assert "E-mail notifications are not set up" in page and "Telegram notifications are not set up" in page
    client.post("/notifications/settings", data={"csrf_token": csrf_from(page), "email": "y"})
    assert setup(lambda: inbox.chosen_channels(alice.id)) == []


def test_older_notifications_come_a_page_at_a_time(web):
    """Does the list show the newest page and fetch older ones with "show older" (a fragment under htmx)?"""
    client, setup = web

    def make():
        user = quick_user("many@example.com", locale="en")
        for n in range(inbox.PAGE_SIZE + 2):
            inbox.notify(user.id, "cash_out_failed", f"cash-out-failed:{n}", cash_out_id=n, amount=1_00 + n)
        return Person(user)

    person = setup(make)
    sign_in(client, person)
    page = client.get("/notifications/").get_data(as_text=True)
    assert page.count("Cash-out failed") == inbox.PAGE_SIZE and "Show older" in page
    oldest_shown = min(int(i) for i in re.findall(r'id="notification-(\d+)"', page))
    more = client.get(f"/notifications/?before={oldest_shown}", headers={"HX-Request": "true"})
    fragment = more.get_data(as_text=True)
    assert "<html" not in fragment and fragment.count("Cash-out failed") == 2 and "Show older" not in fragment
