"""Refuse text that no column can store, once, before any view sees it.

PostgreSQL's ``text`` cannot hold NUL, and a lone surrogate (which JSON's ``\\ud800`` escape
produces) cannot even be encoded for the driver: either one reached a query as a 500.  Rather
than teach every view and form, one ``before_request`` hook looks at every piece of text a
request brings — the path, the query string, every form field (names and values) and every
string of a JSON body — and answers 400 with the reason if any of it is not plain text:

- NUL and the other C0 control characters.  Tab, CR and LF are allowed in bodies (a note or a
  reason may span lines) but not in the path or the query string, which are single-line;
- lone surrogates (U+D800–U+DFFF);
- bytes that are not UTF-8 in the path, the query string or a form-encoded body (werkzeug would
  turn them into U+FFFD or leave them percent-encoded, so the view would see text other than
  what was sent).

The raw body is cached before the form is parsed (the notification endpoint verifies signatures
over exactly those bytes), and only when nothing would refuse it for its size first: a large
body to the notification endpoint is left to that endpoint's own 413.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

log = logging.getLogger(__name__)

#: the notification endpoint's own cap (app/web/webhooks/routes.py): nothing else reads a raw body
BODY_INSPECT_LIMIT = 64 * 1024
#: a single line: no control character at all, no surrogate
_BAD_IN_LINE = re.compile("[\x00-\x1f\ud800-\udfff]")
#: multi-line text: tab, LF and CR are fine
_BAD_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_URLENCODED = "application/x-www-form-urlencoded"
_FORM_TYPES = frozenset({_URLENCODED, "multipart/form-data"})
#: how much of a field's name a message quotes (it was typed by whoever sent the request)
_NAME_SHOWN = 40


class InvalidText(Exception):
    """A piece of the request is not text we can store; ``where`` says which, for the message."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def _utf8(raw: bytes, where: str) -> None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidText(where) from None


def _clean(text: str, where: str, pattern: re.Pattern = _BAD_IN_TEXT) -> None:
    if pattern.search(text):
        raise InvalidText(where)


def _field_label(name: str):
    if _BAD_IN_LINE.search(name):
        return _l("a field name")
    shown = name if len(name) <= _NAME_SHOWN else name[:_NAME_SHOWN] + "…"
    return _l("the field “%(name)s”", name=shown)


def _check_path() -> None:
    # PATH_INFO is the raw bytes (percent-decoded by the server) as latin-1, per PEP 3333
    raw = request.environ.get("PATH_INFO", "").encode("latin-1", "replace")
    # lazy: translated only when a refusal shows it (every request passes through here)
    _utf8(raw, _l("the address"))
    _clean(request.path, _l("the address"), _BAD_IN_LINE)


def _check_query() -> None:
    raw = request.query_string
    for pair in raw.split(b"&"):
        _utf8(unquote_to_bytes(pair.replace(b"+", b" ")), _l("the address"))
    for name, value in request.args.items(multi=True):
        _clean(name, _l("a field name"), _BAD_IN_LINE)
        _clean(value, _field_label(name), _BAD_IN_LINE)


def _strings(value, label: str) -> Iterator[tuple[str, str]]:
    """Every string of a parsed JSON document (keys too), with where it sits."""
    if isinstance(value, str):
        yield value, label
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key, label
            yield from _strings(item, label)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, label)


def _may_read_body(length: int | None) -> bool:
    """Whether to read and keep the raw body: only when nothing would refuse it for its size first."""
    if length is None:
        return False
    if length <= BODY_INSPECT_LIMIT:
        return True
    # werkzeug reads a form-encoded body whole anyway, up to its form memory limit; the notification
    # endpoint caps its body at BODY_INSPECT_LIMIT itself and must be left to answer 413
    return (request.mimetype == _URLENCODED and request.blueprint != "hooks"
            and length <= (request.max_form_memory_size or 0))


def _check_body() -> None:
    readable = _may_read_body(request.content_length)
    # keep the raw bytes: a form parsed from the stream would leave a view that verifies a
    # signature over the body (the notification endpoint) an empty one
    raw = request.get_data(cache=True, parse_form_data=False) if readable else b""
    if request.mimetype in _FORM_TYPES:
        if not readable and request.blueprint == "hooks":
            return  # far over any notification: the endpoint refuses it (413) without our help
        if readable and request.mimetype == _URLENCODED:
            # werkzeug leaves bytes that are not UTF-8 percent-encoded: the view would see other text
            for pair in raw.split(b"&"):
                _utf8(unquote_to_bytes(pair.replace(b"+", b" ")), _("the form"))
        for name, value in request.form.items(multi=True):
            _clean(name, _("a field name"), _BAD_IN_LINE)
            _clean(value, _field_label(name))
        for name, upload in request.files.items(multi=True):
            _clean(name, _("a field name"), _BAD_IN_LINE)
            _clean(upload.filename or "", _field_label(name), _BAD_IN_LINE)
        return
    if not readable or raw.lstrip()[:1] not in (b"{", b"["):
        return  # not JSON: the view decides what it is (notification bodies are checked by signature)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return  # malformed JSON is the view's to refuse, with its own reason
    for text, label in _strings(document, _("the request body")):
        _clean(text, label)


def reject_invalid_text():
    """The app-wide ``before_request`` guard: 400 with the reason, before anything is read or written."""
    try:
        _check_path()
        _check_query()
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            _check_body()
    except InvalidText as bad:
        from app.web.error_pages import render_error

        log.warning("refused a request with invalid text in %s: %s %s", bad.where, request.method,
                    request.endpoint or "(no route)")
        return render_error(400, _("The request was refused: %(where)s contains a character that cannot be "
                                   "accepted (a NUL byte, another control character or broken Unicode). "
                                   "Remove it and try again.", where=bad.where))
    return None
