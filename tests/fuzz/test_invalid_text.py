"""Text no column can store is refused at the edge (app/web/input_guard.py): a 400 that says why,
nothing written, on both engines.  Each case here was a 500 on PostgreSQL (issue #18)."""
from __future__ import annotations

import pytest

from app.extensions import db
from tests.fuzz.snapshot import changed, snapshot
from tests.fuzz.test_endpoints import _Sender
from tests.fuzz.wire import open_raw
from tests.security.conftest import build_world

REFUSED = "cannot be accepted"


@pytest.fixture
def world(sec_app, providers):
    return build_world(sec_app, providers)


def _refused_and_nothing_written(app, send) -> None:
    with app.app_context():
        before = snapshot()
    response = send()
    body = response.get_data(as_text=True)
    with app.app_context():
        after = snapshot()
        db.session.remove()
    assert response.status_code == 400, (response.status_code, body[:300])
    assert REFUSED in body or "невозможно принять" in body
    assert changed(before, after) == []


def test_a_nul_or_control_character_in_the_login_email_is_a_400(sec_app, world):
    client, token = _Sender(sec_app, world).client("anonymous")
    for email in ("owner@example.com\x00", "\x00", "own\x01er@example.com"):
        _refused_and_nothing_written(sec_app, lambda email=email: open_raw(
            client, "POST", "/login", form={"email": email, "password": "x" * 12, "csrf_token": token}))


def test_a_nul_in_an_api_form_name_is_a_400(sec_app, world):
    client, token = _Sender(sec_app, world).client("user")
    _refused_and_nothing_written(sec_app, lambda: open_raw(
        client, "POST", "/seller/api-forms/new", query={"kind": "tbank"},
        form={"name": "my\x00form", "terminal_key": "T1DEMO", "password": "secret-123", "csrf_token": token}))


def test_invalid_text_in_a_path_segment_is_a_400(sec_app, world):
    client, _ = _Sender(sec_app, world).client("user")
    for path in ("/hooks/tbank/\x00", "/hooks/\x00/x", "/hooks/tbank/a\udc80b", "/seller/api-forms/\x00",
                 "/buy/\ud800", "/lang/\x7f\x01"):
        method = "POST" if path.startswith("/hooks/") else "GET"
        _refused_and_nothing_written(sec_app, lambda path=path, method=method: open_raw(client, method, path))


def test_invalid_text_in_a_query_argument_is_a_400(sec_app, world):
    """The query string is one line: not even tab, CR or LF; bytes that are not UTF-8 neither."""
    client, _ = _Sender(sec_app, world).client("user")
    for value in ("\x00", "a\x1bb", "line\nbreak", "\ud800"):
        _refused_and_nothing_written(sec_app, lambda value=value: open_raw(client, "GET", "/wallet/history",
                                                                           query={"kind": value}))


def test_a_field_name_with_a_nul_or_a_value_that_is_not_utf8_is_a_400(sec_app, world):
    client, token = _Sender(sec_app, world).client("user")
    for form in ({"email\x00": "y"}, {"telegram_chat_id": "12\ud83d"}, {"email": "\udfff"}):
        _refused_and_nothing_written(sec_app, lambda form=form: open_raw(
            client, "POST", "/notifications/settings", form={"csrf_token": token, **form}))


def test_invalid_text_in_a_json_body_is_a_400_and_stores_no_event(sec_app, world):
    """A notification is checked before its signature: a lone surrogate made the signature code raise."""
    client = sec_app.test_client()
    for text in ("\\u0000", "\\ud800", "a\\udfffb", "\\u001b[31m"):
        _refused_json(sec_app, client, world, text)


def _refused_json(sec_app, client, world, text):
    body = (f'{{"TerminalKey": "T", "OrderId": "{text}", "Success": true, "Status": "CONFIRMED", "PaymentId": 1, '
            f'"ErrorCode": "0", "Amount": 100, "Token": "x", "DATA": {{"k": ["{text}"]}}}}').encode()
    _refused_and_nothing_written(sec_app, lambda: client.post(
        f"/hooks/tbank/{world.objects['hook_token']}", data=body, content_type="application/json"))


def test_a_json_client_gets_the_reason_as_json(sec_app, world):
    client = sec_app.test_client()
    response = open_raw(client, "POST", "/hooks/tbank/\x00", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert REFUSED in response.get_json()["detail"] or "невозможно принять" in response.get_json()["detail"]


def test_line_breaks_and_tabs_pass_in_a_multi_line_field(sec_app, world):
    """A note may span lines: the guard lets tab, CR and LF through in a body (the view then decides)."""
    client, token = _Sender(sec_app, world).client("user")
    response = open_raw(client, "POST", f"/buy/{world.objects['deposit']}/dispute",
                        form={"csrf_token": token, "dsp-note": "first line\r\n\tsecond line"})
    body = response.get_data(as_text=True)
    assert response.status_code < 500 and REFUSED not in body and "невозможно принять" not in body

