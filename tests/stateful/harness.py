"""Deterministic-simulation plumbing for the state-machine tests: a fake clock, injected crashes,
a fresh database per example, and the invariants every step must keep.

Crashes: :func:`crashing` runs a job and kills it at its ``k``-th database round trip (every
statement and every COMMIT counts): the exception is a ``BaseException`` the app cannot
swallow, the session is rolled back and the connection dropped — what a SIGKILL leaves behind.
A job of n round trips has n + 1 gaps; drawing ``k`` from 1..n+1 (0 = no crash) puts a crash
between every two steps of every job over the examples.
"""
from __future__ import annotations

import shutil
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

import app.database as app_database
from app.extensions import db
from app.ledger.models import LedgerTransfer
from app.ledger.verify import verify_ledger
from tests.pg_empty import empty_tables

_REAL_UTCNOW = app_database.utcnow


class Crash(BaseException):  # noqa: N818 - it is a kill, not an error the app may handle
    """The process died here."""


class FakeClock:
    """``utcnow`` everywhere in the app = the real time plus an offset that only grows.

    Column defaults bound to the real function (``created_at``…) therefore never lie in the
    future of the fake clock; they only look older than they are, which sweepers must tolerate.
    """

    def __init__(self):
        self.offset = timedelta(0)
        self._patched: list[tuple[object, str]] = []

    def now(self) -> datetime:
        return _REAL_UTCNOW() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def install(self) -> None:
        for name, module in list(sys.modules.items()):
            if (name == "app" or name.startswith("app.")) and getattr(module, "utcnow", None) is _REAL_UTCNOW:
                module.utcnow = self.now
                self._patched.append((module, "utcnow"))

    def uninstall(self) -> None:
        for module, attr in self._patched:
            setattr(module, attr, _REAL_UTCNOW)
        self._patched.clear()


class CrashInjector:
    """Counts database round trips on the app's engine; raises :class:`Crash` at the armed one."""

    def __init__(self, engine):
        self.engine = engine
        self.armed_at = 0
        self.count = 0
        self.fired = False
        event.listen(engine, "before_cursor_execute", self._step)
        event.listen(engine, "commit", self._step_commit)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._step)
        event.remove(self.engine, "commit", self._step_commit)

    def _tick(self):
        if not self.armed_at:
            return
        self.count += 1
        if self.count == self.armed_at:
            self.armed_at = 0
            self.fired = True
            raise Crash(f"crash at database step {self.count}")

    def _step(self, *args, **kwargs):
        self._tick()

    def _step_commit(self, conn):
        self._tick()


@contextmanager
def crashing(injector: CrashInjector, at: int):
    """Run the body; crash it at round trip ``at`` (0 = never).  Yields a dict with ``crashed``."""
    injector.armed_at, injector.count, injector.fired = at, 0, False
    outcome = {"crashed": False, "steps": 0}
    try:
        yield outcome
    except Crash:
        outcome["crashed"] = True
        db.session.rollback()
    finally:
        outcome["steps"] = injector.count
        injector.armed_at = 0
        db.session.remove()  # as the job wrapper (and a dead process) would


def reset_database(app, database) -> None:
    """A clean database for the next example (the migrated template on SQLite, emptied tables on PostgreSQL)."""
    with app.app_context():
        db.session.remove()
        if database.kind == "postgresql":
            empty_tables(db.engine)
        else:
            db.engine.dispose()
            target = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
            for suffix in ("-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
            shutil.copyfile(database.workdir / "template.db", target)


def ledger_ok() -> None:
    report = verify_ledger()
    assert report.ok, "\n".join(str(v) for v in report.violations)


def transfers_with_key(pattern: str) -> list[LedgerTransfer]:
    return list(db.session.scalars(sa.select(LedgerTransfer).where(LedgerTransfer.key.like(pattern))))
