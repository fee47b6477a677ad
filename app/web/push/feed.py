"""What the push process reads from the database: a connecting page's deposit, and every watched one per tick.

Both reads are synchronous (SQLAlchemy, psycopg) and run in the event loop's
worker threads.  The connect check is the fast poll's own
(:class:`app.web.deposits.fast_poll.FastPoll`: the session cookie verified with
Flask's serializer, the deposit joined to its owner by the session token);
the tick is one statement for all watched deposits, whatever their number.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.dialects import postgresql

from app.extensions import db
from app.models import User
from app.models.market import Deposit
from app.web.deposits.fast_poll import FastPoll, version_of

_d, _u = Deposit.__table__, User.__table__
_COLUMNS = (_d.c.id, _d.c.buyer_id, _d.c.status, _d.c.updated_at, _d.c.buyer_claimed_paid_at, _d.c.expires_at,
            _u.c.locale, _u.c.session_token, _u.c.is_frozen)


class Feed:
    """The push process's view of the database, through the Flask app's configuration and engine."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.poll = FastPoll(app, None)
        with app.app_context():
            self.engine = db.engine
        postgres = self.engine.dialect.name == "postgresql"
        ids = (_d.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger))) if postgres
               else _d.c.id.in_(sa.bindparam("ids", expanding=True)))
        self._tick = sa.select(*_COLUMNS).select_from(_d.join(_u, _u.c.id == _d.c.buyer_id)).where(ids)
        self._live = sa.select(_u.c.id).where(_u.c.id == sa.bindparam("user_id"),
                                              _u.c.session_token == sa.bindparam("token"), _u.c.is_frozen.is_(False))

    def identity(self, environ: dict) -> tuple[int, str] | None:
        """(user id, session token) of a request's valid session cookie (see ``FastPoll.session_identity``)."""
        return self.poll.session_identity(environ)

    def glance(self, deposit_id: int, user_id: int, token: str) -> tuple[str, str | None]:
        """``("ok", fingerprint)`` for the user's own deposit in a live session; else ``("signed out", None)``
        (the session ended: the app's answer is its 401) or ``("not found", None)`` (someone else's deposit or
        none: its 404).  The second statement only when the first finds nothing."""
        row = self.poll.glance(deposit_id, user_id, token)
        if row is not None:
            return "ok", version_of(row)
        with self.engine.connect() as conn:
            live = conn.execute(self._live, {"user_id": user_id, "token": token}).first() is not None
            conn.rollback()
        return ("not found" if live else "signed out"), None

    def rows(self, deposit_ids: list[int]) -> dict[int, sa.Row]:
        """Every watched deposit that exists, with its owner's session (``buyer_id``, ``session_token``,
        ``is_frozen``) and what its fingerprint needs, in one statement."""
        with self.engine.connect() as conn:
            found = conn.execute(self._tick, {"ids": deposit_ids}).all()
            conn.rollback()
        return {row.id: row for row in found}

    def close(self) -> None:
        self.poll.close()
