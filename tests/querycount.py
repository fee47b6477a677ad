"""Counting the SQL statements a request runs (SQLAlchemy's ``before_cursor_execute`` event)."""
from __future__ import annotations

import contextlib

import sqlalchemy as sa

from app.extensions import db


@contextlib.contextmanager
def count_queries(app):
    """Collect the statements the app's engine runs inside the block (the list is filled as they run)."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
