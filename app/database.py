"""Engine behaviour that the money code relies on, and shared column types.

SQLite is the zero-setup default.  To make it safe for the ledger every
transaction is started with ``BEGIN IMMEDIATE``: the write lock is taken at the
start, so two writers are serialised instead of one failing half-way with
``SQLITE_BUSY`` on lock upgrade.  Foreign keys are switched on (SQLite leaves
them off) and WAL lets readers proceed while a writer works.  PostgreSQL needs
nothing special here; the ledger takes row locks with ``SELECT … FOR UPDATE``.
"""
from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.util import is_exit_exception

#: integer primary keys: BIGINT on PostgreSQL, the rowid alias on SQLite
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on both engines (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use app.database.utcnow()")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def is_sqlite(bind) -> bool:
    return bind.dialect.name == "sqlite"


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, _record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy's "begin" event below issue the BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn):
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection with ``SELECT 1`` before use, but only if it sat idle in the pool.

    ``pool_pre_ping`` pings at every checkout: a round trip per request or job
    that cost the ledger 15–25 % of its postings per second.  A connection
    that was in use a moment ago is as good as a ping could tell; the ones
    that die unnoticed are those left idle (a server or firewall timeout, a
    restart during a quiet spell).  A connection that fails the ping is
    replaced before anyone uses it, and if the server dropped it the whole
    pool is renewed (``InvalidatePoolError``, as ``pool_pre_ping`` does).
    One that a failover kills while it is busy fails its statement as it
    would have anyway (a request answers 503); SQLAlchemy then invalidates the
    whole pool, so the process reconnects once.
    """

    @event.listens_for(engine, "checkin")
    def _remember_idle_since(_dbapi_connection, record):
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= idle_seconds:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                # the server went away (restart, failover): the pool's other connections are as dead
                raise sa.exc.InvalidatePoolError(f"idle connection failed its ping: {exc}") from exc
            raise sa.exc.DisconnectionError(f"idle connection failed its ping: {exc}") from exc


#: statement → its PostgreSQL SQL text (psycopg's named placeholders) and the values of its literal parameters
_PG_SQL: dict[sa.Executable, tuple[str, dict]] = {}


def execute_fast(conn: sa.Connection, stmt: sa.Executable, params: dict) -> list[tuple]:
    """Run a fixed statement of a hot path; the rows as tuples (none without RETURNING).  On PostgreSQL, on
    the driver's cursor.

    SQLAlchemy's execution path (the statement's cache key, an execution
    context, the result's metadata) cost a fifth of a ledger posting's Python
    time (0.57 → 0.45 ms of CPU per posting without it).  For a statement made
    once (with no expanding ``IN``: its literal values are sent with the
    parameters), whose parameters are integers, strings, booleans, lists of
    those (arrays) and timezone-aware datetimes (psycopg sends those as they are:
    no SQLAlchemy type processing happens here, so nothing that needs it may
    be passed — ``UTCDateTime`` would refuse a naive datetime, this does not)
    and whose rows are read as tuples, the statement is compiled once and
    sent on the connection's own cursor, inside the same transaction.

    What SQLAlchemy does around a statement is kept: its
    ``before_cursor_execute`` / ``after_cursor_execute`` listeners run (query
    counters, the crash injector of the stateful tests; they get no execution
    context, so with echo or Flask-SQLAlchemy's query recording on, which
    read it, the plain path is taken), and any error goes through
    SQLAlchemy's own handling (``Connection._handle_dbapi_exception``, pinned
    2.1): the usual ``sqlalchemy.exc`` class, ``handle_error`` listeners, and
    on a disconnect this connection and the rest of the pool invalidated.
    SQLite always takes the plain path.
    """
    return _on_driver_cursor(conn, stmt, params, rows=True)


def update_fast(conn: sa.Connection, stmt: sa.Executable, params: dict) -> int:
    """:func:`execute_fast` for an UPDATE or DELETE without RETURNING: the number of rows it changed."""
    return _on_driver_cursor(conn, stmt, params, rows=False)


def _on_driver_cursor(conn: sa.Connection, stmt: sa.Executable, params: dict, *, rows: bool):
    if conn.dialect.name != "postgresql" or conn.engine.echo or _records_queries():
        result = conn.execute(stmt, params)
        return result.all() if rows else result.rowcount
    entry = _PG_SQL.get(stmt)
    if entry is None:
        compiled = stmt.compile(dialect=conn.dialect)
        literals = {name: value for name, value in compiled.params.items() if value is not None}
        entry = _PG_SQL[stmt] = (str(compiled), literals)
    sql, literals = entry
    params = {**literals, **params}
    cursor = conn.connection.cursor()
    dispatch = conn.dispatch
    try:
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(conn, cursor, sql, params, None, False)
        cursor.execute(sql, params)
        answer = cursor.fetchall() if rows else cursor.rowcount
        if dispatch.after_cursor_execute:
            dispatch.after_cursor_execute(conn, cursor, sql, params, None, False)
        return answer
    except BaseException as exc:
        # Driver errors, and exit exceptions that leave the protocol state unknown, as Connection.execute
        # handles them; anything else (a listener's own exception) propagates as it would there.
        if isinstance(exc, conn.dialect.loaded_dbapi.Error) or is_exit_exception(exc):
            conn._handle_dbapi_exception(exc, sql, params, cursor, None)  # noqa: SLF001 - always raises
        raise
    finally:
        cursor.close()


def _records_queries() -> bool:
    from flask import current_app, has_app_context

    return bool(has_app_context() and current_app.config.get("SQLALCHEMY_RECORD_QUERIES"))


def insert_ignoring_duplicates(table: sa.Table, rows: list[dict], *, conflict_on: list[str]) -> None:
    """INSERT rows, silently skipping those whose ``conflict_on`` key already exists.

    ``INSERT … ON CONFLICT DO NOTHING`` on both engines: a repeated or
    overlapping feed page stores nothing twice, and two pollers racing on the
    same rows cannot fail each other's transaction.
    """
    if not rows:
        return
    from app.extensions import db

    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(table).values(rows).on_conflict_do_nothing(index_elements=conflict_on))


def tolerate_dropped_connection_at_teardown(app, db) -> None:
    """A connection the server dropped after the work was done must not turn the answer into a 500.

    Flask-SQLAlchemy removes the session when the app context ends; on a
    connection PostgreSQL has terminated (failover, restart, ``pg_terminate_backend``)
    the rollback it issues raises, and that error escapes Flask after the view's
    response was made, so gunicorn answers 500 for a request that succeeded.
    Registered after ``db.init_app``
    this runs first; on a disconnect it forgets the session (SQLAlchemy has
    already invalidated the connection, so the pool hands out a fresh one next).
    """

    @app.teardown_appcontext
    def _remove_session(_exc):
        try:
            db.session.remove()
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            db.session.registry.clear()
