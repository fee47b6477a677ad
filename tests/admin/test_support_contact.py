"""The support contact: an admin setting (a new version, audited), shown in every footer, the help page and disputes."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.core import settings as settings_service
from app.core.settings import current_settings
from app.extensions import db
from app.models.settings import PlatformSettings
from tests.admin.conftest import audit_events, sign_in
from tests.helpers import csrf_from


def _versions(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(PlatformSettings))


def _footer(html: str) -> str:
    return re.search(r'<div id="footer-support">(.*?)</div>', html, re.S).group(1)


def test_admin_sets_the_contact_and_every_page_shows_it(app, staff, client):
    """Is the contact a new audited version, refused when bad (nothing written), and shown in footer and help?"""
    assert "Загляните в справку" in _footer(client.get("/help").get_data(as_text=True))  # none set yet
    admin = sign_in(app, staff.admin)
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'action="/admin/settings/support-contact"' in page
    token = csrf_from(page)
    versions = _versions(app)

    def post(contact, reason="support desk opened"):
        return admin.post("/admin/settings/support-contact",
                          data={"csrf_token": token, "sc-contact": contact, "sc-reason": reason})

    for bad in ("x" * 201, "line one\nline two", "tab\there"):
        response = post(bad)
        assert response.status_code == 422 and 'class="field-errors"' in response.get_data(as_text=True), bad
    assert post("nul\x00byte").status_code in (400, 422)  # refused here, or at the edge for every field
    assert post("@pokerpay_help", reason="").status_code == 422  # a reason is required
    assert _versions(app) == versions  # nothing written
    assert post("@pokerpay_help").status_code == 302
    assert post("@pokerpay_help").status_code == 422  # nothing changed
    with app.app_context():
        now = current_settings()
        assert (now.support_contact, now.created_by_id) == ("@pokerpay_help", staff.admin.id)
    [changed] = audit_events(app, "settings.changed")
    assert changed.details["changed"] == {"support_contact": "@pokerpay_help"} and changed.actor_id == staff.admin.id
    for url in ("/", "/help", "/login"):
        footer = _footer(client.get(url).get_data(as_text=True))
        assert 'href="https://t.me/pokerpay_help"' in footer and 'hx-boost="false"' in footer, url
    history = admin.get("/admin/settings").get_data(as_text=True)
    assert "@pokerpay_help" in history and "Контакт поддержки" in history


def test_a_rates_change_keeps_the_contact_and_only_safe_links_are_made(app, staff):
    """Does a later settings change carry the contact over, and does only mail/@name/https become a link?"""
    with app.app_context():
        settings_service.change_support_contact(actor=None, reason="desk", contact="help@pokerpay.example")
        settings_service.change_settings(actor=None, reason="rates", rate_tbank_kopecks=97_00)
        db.session.commit()
        assert current_settings().support_contact == "help@pokerpay.example"
        links = {text: settings_service._contact_of(text).href for text in (
            "help@pokerpay.example", "@pokerpay_help", "https://pokerpay.example/support",
            "javascript:alert(1)", "http://plain.example", "+7 900 000-00-00", "<b>@x</b>")}
    assert links == {
        "help@pokerpay.example": "mailto:help@pokerpay.example", "@pokerpay_help": "https://t.me/pokerpay_help",
        "https://pokerpay.example/support": "https://pokerpay.example/support",
        "javascript:alert(1)": None, "http://plain.example": None, "+7 900 000-00-00": None, "<b>@x</b>": None,
    }


def test_the_contact_is_escaped_and_an_ops_user_cannot_change_it(app, staff, client):
    """Is markup in the contact shown as text, and is the form admin-only like the other settings?"""
    with app.app_context():
        settings_service.change_support_contact(actor=None, reason="desk", contact='<script>x</script> "desk"')
        db.session.commit()
    footer = _footer(client.get("/help").get_data(as_text=True))
    assert "<script>" not in footer and "&lt;script&gt;" in footer
    ops = sign_in(app, staff.ops)
    token = csrf_from(ops.get("/admin/").get_data(as_text=True))
    response = ops.post("/admin/settings/support-contact",
                        data={"csrf_token": token, "sc-contact": "@evil_help", "sc-reason": "take over"})
    assert response.status_code == 403
    with app.app_context():
        assert current_settings().support_contact == '<script>x</script> "desk"'
