"""Send text as a real client puts it on the wire, whatever it contains.

Werkzeug's test client encodes a form dict with strict UTF-8 (a lone surrogate raises in the
test, not in the app) and re-decodes the path with replacement characters.  A real client can
send any bytes, so these helpers write the bytes themselves: the body and query string
percent-encoded from ``surrogatepass`` UTF-8, the path as raw bytes in ``PATH_INFO`` (latin-1,
as a WSGI server passes it).
"""
from __future__ import annotations

from urllib.parse import quote


def wire(value: str) -> bytes:
    """The bytes a client would send for ``value`` (lone surrogates as their CESU-8 bytes)."""
    return value.encode("utf-8", "surrogatepass")


def encoded(fields: dict[str, str | list[str]]) -> str:
    """``application/x-www-form-urlencoded`` text of ``fields`` (a list value repeats the field)."""
    pairs = []
    for name, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            pairs.append(f"{quote(wire(name), safe='')}={quote(wire(one), safe='')}")
    return "&".join(pairs)


def open_raw(client, method: str, path: str, query: dict | None = None, form: dict | None = None, **kwargs):
    """``client.open`` with ``path`` sent as raw bytes and ``query`` / ``form`` encoded by :func:`encoded`."""
    environ = {"PATH_INFO": wire(path).decode("latin-1")}
    if query:
        environ["QUERY_STRING"] = encoded(query)
    body = None if form is None else encoded(form).encode("ascii")
    return client.open("/", method=method, data=body, environ_overrides=environ,
                       content_type=None if body is None else "application/x-www-form-urlencoded", **kwargs)
