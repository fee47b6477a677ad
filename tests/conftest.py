"""Shared fixtures.

Every test that touches the database runs twice: on SQLite and on PostgreSQL
(the ``database`` fixture is parametrised; ids ``[sqlite]`` / ``[postgresql]``).
The PostgreSQL half runs when ``TEST_DATABASE_URL`` is set or a local server
answers on 127.0.0.1:5432; otherwise it is skipped with a plain reason.

Isolation: each test gets a clean database with real transactions: on SQLite a
fresh copy of a migrated template file, on PostgreSQL the same migrated schema
emptied after the test (``tests/pg_empty.py``).  Real commits (rather than one outer
transaction rolled back at the end) keep ``BEGIN IMMEDIATE``, ``FOR UPDATE``,
triggers and multi-threaded tests (live sandbox servers calling our webhooks)
behaving exactly as in production, and the end state is the same: nothing a
test wrote survives it.

The schema is made by the migrations, as in production.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the profile: HYPOTHESIS_PROFILE=long)
import tests.url_builders
from app import create_app
from app.extensions import db
from config import TestingConfig, normalise_database_url
from tests.pg_empty import empty_tables

pytest_plugins = ["tests.sandboxes", "tests.server_errors"]

tests.url_builders.install()  # an app in a few milliseconds instead of 0.2 s (see the module)

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEST_REDIS_DB = 9


def _postgres_url() -> tuple[str | None, str]:
    explicit = os.environ.get("TEST_DATABASE_URL")
    url = normalise_database_url(explicit or DEFAULT_PG_URL)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure: the half is skipped (or fails if asked for)
        if explicit:
            raise RuntimeError(f"TEST_DATABASE_URL is set but PostgreSQL does not answer: {exc}") from exc
        return None, f"PostgreSQL half skipped: no TEST_DATABASE_URL and nothing answers at {DEFAULT_PG_URL}"
    finally:
        engine.dispose()
    return url, ""


@dataclass
class Database:
    kind: str  # "sqlite" | "postgresql"
    template_url: str
    workdir: Path
    counter: int = 0

    def fresh_url(self) -> str:
        if self.kind == "postgresql":
            return self.template_url
        self.counter += 1
        target = self.workdir / f"test-{self.counter}.db"
        shutil.copyfile(self.workdir / "template.db", target)
        return f"sqlite:///{target}"

    def clean(self, app) -> None:
        if self.kind == "postgresql":
            with app.app_context():
                empty_tables(db.engine)
                # The emptying's connection went back to the pool of an app the test is done with: closed now,
                # or it stayed open until the app was garbage-collected, and a long run (two workers, one
                # idle connection left per test) ran PostgreSQL out of its 100 connections.
                db.engine.dispose()
        else:
            url = app.config["SQLALCHEMY_DATABASE_URI"]
            with app.app_context():
                db.engine.dispose()
            path = Path(url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)


def _migrate(url: str, redis_url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url, REDIS_URL=redis_url)
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _xdist_worker() -> int:
    """0, 1 … for the workers of ``pytest -n N`` (pytest-xdist), 0 without it."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") else 0


def _for_this_worker(url: str) -> str:
    """The given Redis URL with the database number moved up by the xdist worker's number: every test
    flushes its database, so two workers must never share one."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base + _xdist_worker()) % 16}"))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A real Redis: TEST_REDIS_URL, else the local server, else an embedded one."""
    import redis

    explicit = os.environ.get("TEST_REDIS_URL")
    if explicit:
        return _for_this_worker(explicit)
    # A database number of this run's own (9…15), so parallel local runs do not reset each other's counters.
    local = f"redis://127.0.0.1:6379/{TEST_REDIS_DB + (os.getpid() + _xdist_worker()) % 7}"
    try:
        redis.Redis.from_url(local, socket_connect_timeout=1).ping()
        return local
    except redis.RedisError:
        from app.redis_client import start_embedded_redis

        url = start_embedded_redis(str(tmp_path_factory.mktemp("redis")))
        return f"{url}?db={TEST_REDIS_DB}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory, redis_url) -> Database:
    """A migrated database of one engine, shared by the tests of that engine."""
    workdir = tmp_path_factory.mktemp(f"db-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'template.db'}"
    else:
        url, why = _postgres_url()
        if url is None:
            pytest.skip(why)
        url = _private_database(url, request)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    _migrate(url, redis_url)
    return Database(kind=request.param, template_url=url, workdir=workdir)


def _private_database(url: str, request) -> str:
    """A database of this test run's own (``<db>_run<pid>``), dropped at the end.

    Two runs on one server (two developers, CI and a developer) never see each
    other's tables.  Where the role may not create databases, the given one is used.
    """
    base = sa.engine.make_url(url)
    private = base.set(database=f"{base.database}_run{os.getpid()}")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{private.database}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{private.database}"'))
    except sa.exc.DBAPIError:
        admin.dispose()
        return url
    admin.dispose()

    def drop():
        engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{private.database}" WITH (FORCE)'))
        engine.dispose()

    request.addfinalizer(drop)
    return private.render_as_string(hide_password=False)


@pytest.fixture
def scratch_url(database, tmp_path):
    """An empty database of the test's engine, removed afterwards: for tests that change the schema's
    revision (a migration run) or restore a dump without touching the shared test database."""
    import uuid

    from tests.ops.scratch_db import create_scratch_database, drop_scratch_database

    if database.kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"pokerpay_scratch_{uuid.uuid4().hex[:8]}"
    url = create_scratch_database(database.template_url, name)
    yield url
    drop_scratch_database(database.template_url, name)


@pytest.fixture
def app_factory(database, redis_url):
    """Build apps on this test's clean database; everything is cleaned afterwards."""
    import redis

    # This run's own Redis database (see redis_url): queues, counters and rate limits start empty.
    redis.Redis.from_url(redis_url).flushdb()
    url = database.fresh_url()
    made = []

    def make(**overrides):
        config = {"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url}
        config.update(overrides)
        app = create_app(TestingConfig, **config)
        made.append(app)
        return app

    yield make
    from app.web.deposits.fast_poll import EXTENSION_KEY as FAST_POLL

    for app in made:
        if FAST_POLL in app.extensions:
            app.extensions[FAST_POLL].close()  # its own PostgreSQL connections, outside the pool
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if made:
        database.clean(made[0])


@pytest.fixture
def app(app_factory):
    return app_factory()


@pytest.fixture
def app_ctx(app):
    """An application context, for calling services directly."""
    with app.app_context():
        yield app
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def auth(client, app):
    from tests.helpers import AuthActions

    return AuthActions(client, app)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """argon2 with its smallest cost in every test: the suite makes and signs in thousands of users.

    At the production cost a hash or a check is 0.17 s of CPU here, several minutes of a full run.  Still
    argon2id through the same code path; only the work factor is lower (the hash is what the secret scans
    look at, and it is never the password either way).  Servers the tests start in processes of their
    own (the chaos run, gunicorn checks) hash at the production cost.
    """
    from argon2 import PasswordHasher

    from app.people import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", cheap.hash("not-a-real-password-Zx9!"))


def pytest_report_header(config):
    url, why = _postgres_url()
    if url is None:
        return [f"databases: sqlite only — {why}"]
    return [f"databases: sqlite and postgresql ({url.split('@')[-1]})"]
