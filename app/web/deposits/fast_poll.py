"""The invoice page's unchanged poll, answered before the Flask stack: one query, an empty 204.

Every buyer with an open invoice asks ``GET /buy/<id>?v=<fingerprint>`` every
1.5 s (``deposits/_status.html``, ``polling.POLL_SECONDS``), and nearly every
answer is "nothing changed" (204).  Through Flask that answer cost about 2 ms of CPU (routing, the session,
Flask-Login, Babel, CSRF, the limiter, Talisman, two ORM queries); a few
thousand watching buyers would take both cores of a small machine.  This WSGI
middleware, installed in front of the app (inside ProxyFix), answers exactly
that case itself and hands everything else to Flask unchanged:

1. The request must be the poll as the page sends it: ``GET``, the path and a
   query of just ``v=`` with a 16-hex-digit fingerprint, ``HX-Request: true``
   and not boosted, over HTTPS when the app forces it.  Anything else → Flask.
2. The session cookie is verified with Flask's own signing serializer (the
   secret key and its fallbacks, the cookie's age) and must carry Flask-Login's
   ``<user id>:<session token>``; Flask-Login's "basic" session protection
   would mark a session from another address or browser non-fresh, so such a
   request goes to Flask, which does that.  No cookie, a bad one → Flask.
3. One statement reads the deposit joined to its owner *by the session token*
   (the same check as ``load_user``): a logged-out or password-changed session
   (new token), a frozen account, someone else's deposit or no such deposit
   gives no row → Flask, which answers 401 / 404 / the page as it always did.
   Nothing is cached: each poll reads the database, so a 204 never outlives a
   transition and a revoked session gets no status on its very next request.
4. The fingerprint is computed exactly as the full view does
   (:func:`app.web.deposits.polling.view_version`, the user's saved locale); equal
   → 204 with the headers the Flask stack gives the same answer (security
   headers, ``Vary``, ``Cache-Control: no-store``, a request id); different →
   Flask renders the new fragment.

A database error here is not the buyer's problem: the request goes to Flask,
which fails (or succeeds) the usual way.
"""
from __future__ import annotations

import hashlib
import logging
import queue
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import NamedTuple

import sqlalchemy as sa
from flask import Flask, Response
from itsdangerous import BadSignature
from werkzeug.http import parse_cookie

from app.web.deposits import polling

log = logging.getLogger(__name__)

_PATH = re.compile(r"/buy/([1-9][0-9]{0,17})")
_QUERY = re.compile(r"v=([0-9a-f]{16})")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
EXTENSION_KEY = "pokerpay_fast_poll"
#: PostgreSQL connections of the fast path per process (gunicorn worker), besides the app's pool, unless
#: ``FAST_POLL_CONNECTIONS`` says otherwise
CONNECTIONS_PER_PROCESS = 2
#: the endpoint the 204 is counted under in the request-latency metric, as Flask would count it
ENDPOINT = "deposits.show"


class FastPoll:
    """WSGI middleware: ``app.wsgi_app = FastPoll(app, app.wsgi_app)`` (see :func:`install`)."""

    def __init__(self, app: Flask, inner) -> None:
        self.app = app
        self.inner = inner
        self.force_https = bool(app.config.get("FORCE_HTTPS"))
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.serializer = app.session_interface.get_signing_serializer(app)
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        self._headers: dict[bool, list[tuple[str, str]]] = {}
        self._engine = None
        self._statement = _glance_statement()
        self._pg_sql: str | None = None
        self._idle: queue.LifoQueue = queue.LifoQueue()  # free connections, the warmest first
        self._opened: list = []  # every connection of this process (None: one being opened), for close()
        self._opened_lock = threading.Lock()
        self.max_connections = int(app.config.get("FAST_POLL_CONNECTIONS") or CONNECTIONS_PER_PROCESS)
        #: polls answered here: read by the tests and the benchmark, never by the app
        self.answered = 0
        self._count_lock = threading.Lock()

    # --- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        try:
            headers = self._unchanged(environ)
        except Exception:  # noqa: BLE001 - the full stack answers instead, and logs its own failure
            log.warning("fast poll path failed; the request goes to the app", exc_info=True)
            headers = None
        if headers is None:
            return self.inner(environ, start_response)
        with self._count_lock:
            self.answered += 1
        start_response("204 NO CONTENT", headers)
        self._observe(time.perf_counter() - started)
        return []

    # --- the decision -------------------------------------------------------------------------

    def _unchanged(self, environ) -> list[tuple[str, str]] | None:
        """The 204's headers if this is an unchanged poll of the signed-in owner's deposit, else None."""
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("HTTP_HX_REQUEST") != "true":
            return None
        if environ.get("HTTP_HX_BOOSTED") == "true":
            return None
        path = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        query = _QUERY.fullmatch(environ.get("QUERY_STRING", ""))
        if path is None or query is None:
            return None
        secure = environ.get("wsgi.url_scheme") == "https" or environ.get("HTTP_X_FORWARDED_PROTO") == "https"
        if self.force_https and not secure:
            return None  # Talisman redirects it
        identity = self.session_identity(environ)
        if identity is None:
            return None
        user_id, token = identity
        row = self.glance(int(path.group(1)), user_id, token)
        if row is None:
            return None
        if query.group(1) != version_of(row):
            return None
        return [*self._fixed_headers(secure), ("X-Request-ID", _request_id(environ))]

    def session_identity(self, environ) -> tuple[int, str] | None:
        """(user id, session token) from a valid session cookie whose session Flask-Login would keep as it is."""
        raw = parse_cookie(environ).get(self.cookie_name)
        if not raw:
            return None
        try:
            session = self.serializer.loads(raw, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(session, dict):
            return None
        pk, _sep, token = str(session.get("_user_id") or "").partition(":")
        if not pk.isdigit() or not token:
            return None
        if session.get("_id") != _login_identifier(environ) and session.get("_fresh") is not False:
            return None  # Flask-Login marks the session non-fresh (a new cookie): let it
        return int(pk), token

    def glance(self, deposit_id: int, user_id: int, token: str):
        """The deposit's shown fields and its owner's saved locale, if it is ``user_id``'s and ``token`` is
        their live session (not logged out, password not changed, not frozen); else None."""
        params = {"deposit_id": deposit_id, "user_id": user_id, "token": token}
        if self._engine is None:
            from app.extensions import db

            with self.app.app_context():
                self._engine = db.engine
        if self._engine.dialect.name == "postgresql":
            return self._glance_on_own_connection(params)
        with self._engine.connect() as conn:  # SQLite: the app's pool and transaction handling
            row = conn.execute(self._statement, params).one_or_none()
            conn.rollback()
        return row

    def _glance_on_own_connection(self, params: dict):
        """PostgreSQL: the statement, prepared, on one of this process's own autocommit connections — one
        round trip.

        Through the SQLAlchemy pool the same read cost ten times the CPU of the query itself (checkout,
        the idle ping bookkeeping, the execution context, BEGIN/ROLLBACK): most of the poll.  At most
        ``max_connections`` of them per worker process (``FAST_POLL_CONNECTIONS``, default 2), outside the
        app's pool (a connection per thread made a 5-worker server hold 20 more; a poll holds one for a
        single round trip).  With a slow database the threads wait for one of them: in the loaded benchmark
        that wait was 13 % of the workers' samples, the query 21 %; raise it where the server has
        connections to spare.
        """
        import psycopg

        conn = self._checkout()
        try:
            row = conn.execute(self._pg_sql, params, prepare=True).fetchone()
        except psycopg.Error:
            conn.close()  # replaced on a later checkout; this request goes to Flask
            raise
        finally:
            self._idle.put(conn)
        if row is None:
            return None
        status, updated_at, claimed_at, expires_at, locale = row
        return _Glance(status, _utc(updated_at), _utc(claimed_at), _utc(expires_at), locale)

    def _checkout(self):
        """A free connection of this process, a new one while fewer than the cap exist, else wait for one."""
        import psycopg

        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._opened_lock:
                opening = len(self._opened) < self.max_connections
                if opening:
                    self._opened.append(None)  # the slot, taken before connecting
            conn = None if opening else self._idle.get(timeout=5)
        if conn is None or conn.closed:
            if self._pg_sql is None:
                self._pg_sql = str(self._statement.compile(dialect=self._engine.dialect))
            url = self._engine.url.set(drivername="postgresql")
            try:
                fresh = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                                        connect_timeout=5)
            except BaseException:
                with self._opened_lock:
                    self._opened.remove(conn)  # give the slot back (None, or the closed connection)
                raise
            with self._opened_lock:
                self._opened[self._opened.index(conn)] = fresh
            conn = fresh
        return conn

    def close(self) -> None:
        """Close this process's own connections (an app's end in the tests; a worker's exit closes them)."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            if conn is not None:
                conn.close()

    def _fixed_headers(self, secure: bool) -> list[tuple[str, str]]:
        """The headers the Flask stack puts on this 204 (computed once per scheme by the app's own hooks)."""
        cached = self._headers.get(secure)
        if cached is None:
            cached = self._headers[secure] = _headers_of_app_204(self.app, secure)
        return cached

    def _observe(self, seconds: float) -> None:
        from app.observability.metrics import EXTENSION_KEY

        state = self.app.extensions.get(EXTENSION_KEY)
        if state is not None:
            try:
                state.request_seconds.labels(endpoint=ENDPOINT, method="GET", status="204").observe(seconds)
            except Exception:  # noqa: BLE001 - a metric must never break a response
                log.warning("request latency not recorded", exc_info=True)


def install(app: Flask) -> None:
    """Put the fast path in front of the app (``FAST_POLL_ENABLED``; on unless a configuration turns it off)."""
    if app.config.get("FAST_POLL_ENABLED", True):
        app.wsgi_app = app.extensions[EXTENSION_KEY] = FastPoll(app, app.wsgi_app)


def _glance_statement():
    """The deposit's shown fields and its owner's locale, only for the owner's live session (token)."""
    from app.models import User
    from app.models.market import Deposit

    d, u = Deposit.__table__, User.__table__
    return (sa.select(d.c.status, d.c.updated_at, d.c.buyer_claimed_paid_at, d.c.expires_at, u.c.locale)
            .select_from(d.join(u, u.c.id == d.c.buyer_id))
            .where(d.c.id == sa.bindparam("deposit_id"), u.c.id == sa.bindparam("user_id"),
                   u.c.session_token == sa.bindparam("token"), u.c.is_frozen.is_(False)))


class _Glance(NamedTuple):
    """The columns the fingerprint needs, as the ORM would give them (UTC datetimes)."""

    status: str
    updated_at: datetime | None
    buyer_claimed_paid_at: datetime | None
    expires_at: datetime | None
    locale: str


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def version_of(row) -> str:
    """The fingerprint the status fragment of a glanced deposit shows (its owner's saved locale)."""
    from app.market.invoices import can_open_dispute

    return polling.view_version(row, can_open_dispute(row), locale=row.locale)


def _login_identifier(environ) -> str:
    """Flask-Login's session identifier (``flask_login.utils._create_identifier``) from the raw request."""
    address = environ.get("HTTP_X_FORWARDED_FOR", environ.get("REMOTE_ADDR"))
    if address is not None:
        address = address.encode("utf-8").split(b",")[0].strip()
    agent = environ.get("HTTP_USER_AGENT")
    if agent is not None:
        agent = agent.encode("utf-8")
    return hashlib.sha512(f"{address}|{agent}".encode()).hexdigest()


def _request_id(environ) -> str:
    given = environ.get("HTTP_X_REQUEST_ID", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _headers_of_app_204(app: Flask, secure: bool) -> list[tuple[str, str]]:
    """Run the app's own after-request hooks (Talisman's headers, Vary, …) on an empty 204 once."""
    base = "https://localhost" if secure else "http://localhost"
    with app.test_request_context("/buy/1?v=0", base_url=base, headers={"HX-Request": "true"}):
        response = app.process_response(Response(status=204))
    response.vary.add("Cookie")  # the answer depends on the session (Flask adds this when it reads one)
    response.headers["Cache-Control"] = "no-store"  # what a signed-in user's answer carries
    skip = {"x-request-id", "set-cookie", "content-length", "content-type"}
    return [(k, v) for k, v in response.headers.items() if k.lower() not in skip]

