"""`flask doctor` on both engines: healthy, broken Redis, weak secrets, schema behind or ahead."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.observability import doctor
from config import DEFAULT_SECRET_KEY

LINE = re.compile(r"^(OK|WARN|FAIL) +(\w+) +(.+)$")


def run_doctor(app):
    result = app.test_cli_runner().invoke(args=["doctor"])
    lines = {}
    for line in result.output.splitlines():
        match = LINE.match(line)
        if match:
            lines[match.group(2)] = (match.group(1), match.group(3))
    return result, lines


def test_healthy_deployment_passes(make_app, room):
    """With a reachable database, Redis and room, does every check pass and the command exit 0?"""
    app = make_app(ROOM_API_URL=room.url, ROOM_API_TOKEN=room.token, ROOM_PLATFORM_ACCOUNT=room.platform)
    result, lines = run_doctor(app)
    assert result.exit_code == 0, result.output
    for check in ("config", "secret_key", "keys", "database", "migrations", "redis", "room", "providers",
                  "metrics", "clock"):
        assert lines[check][0] == "OK", (check, lines[check])
    # No worker or scheduler runs in the tests: a warning, not a failure.
    assert lines["processes"][0] == "WARN"
    assert "0.00 USD" in lines["room"][1]
    assert "ok," in result.output.splitlines()[-1]


def test_unreachable_redis_fails(make_app):
    """Does a REDIS_URL pointing at a closed port give FAIL and exit code 1, without the password?"""
    make_app()  # the test's own database first (the fixture cleans through it)
    app = make_app(REDIS_URL="redis://:hunter2-redis-pass@127.0.0.1:1/0", ROOM_CONNECTOR="manual")
    result, lines = run_doctor(app)
    assert result.exit_code == 1
    assert lines["redis"][0] == "FAIL"
    assert "hunter2-redis-pass" not in result.output


def test_development_secret_key_warns(make_app):
    """Is the development SECRET_KEY a warning outside production (and exit 0)?"""
    make_app()
    app = make_app(SECRET_KEY=DEFAULT_SECRET_KEY, ROOM_CONNECTOR="manual")
    result, lines = run_doctor(app)
    assert lines["secret_key"][0] == "WARN"
    assert lines["room"][0] == "WARN"  # fed by ops: nothing to ask
    assert result.exit_code == 0, result.output
    assert DEFAULT_SECRET_KEY not in result.output


def test_production_refuses_weak_settings(make_app):
    """In production, are the default SECRET_KEY, bad Fernet keys and sandbox provider URLs failures?"""
    make_app()
    app = make_app(POKERPAY_CONFIG="production", SECRET_KEY=DEFAULT_SECRET_KEY,
                   ENCRYPTION_KEYS=["not-a-fernet-key"], ROOM_CONNECTOR="manual")
    result, lines = run_doctor(app)
    assert result.exit_code == 1
    assert lines["secret_key"][0] == "FAIL"
    assert lines["keys"][0] == "FAIL"
    assert lines["providers"][0] == "FAIL"  # the defaults point at the sandbox on 127.0.0.1
    assert lines["config"][0] == "WARN"  # PUBLIC_BASE_URL is http://127.0.0.1
    assert "not-a-fernet-key" not in result.output


def test_schema_behind_head_is_detected(app, make_app, scratch_url):
    """A database stamped at an older revision than the code's head: is that a migrations FAIL?"""
    from alembic.script import ScriptDirectory
    from flask_migrate import stamp, upgrade

    scratch = make_app(SQLALCHEMY_DATABASE_URI=scratch_url, ROOM_CONNECTOR="manual")
    with scratch.app_context():
        upgrade()
        script = ScriptDirectory.from_config(scratch.extensions["migrate"].migrate.get_config())
        head = script.get_revision(script.get_current_head())
        stamp(revision=head.down_revision or "base")
        db.engine.dispose()
    result, lines = run_doctor(scratch)
    assert result.exit_code == 1
    assert lines["migrations"][0] == "FAIL"
    assert "flask db upgrade" in lines["migrations"][1]


def test_schema_ahead_of_code_is_detected(app, make_app, scratch_url):
    """A database migrated by newer code (a revision this code lacks): is that a migrations FAIL?"""
    from flask_migrate import upgrade

    scratch = make_app(SQLALCHEMY_DATABASE_URI=scratch_url, ROOM_CONNECTOR="manual")
    with scratch.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'zz99_from_the_future'"))
        db.engine.dispose()
    result, lines = run_doctor(scratch)
    assert lines["migrations"][0] == "FAIL"
    assert "zz99_from_the_future" in lines["migrations"][1] and "unknown" in lines["migrations"][1]


@pytest.mark.parametrize(("skew", "status"), [(0.4, "OK"), (-2.5, "WARN"), (29.0, "WARN"), (-31.0, "FAIL")])
def test_clock_thresholds(skew, status):
    """Is a clock off by more than 2 s a warning, and by more than 30 s a failure?"""
    assert doctor.clock_verdict(skew) == status


def test_a_crashing_check_is_a_failure_not_a_crash(app):
    """Does a check that raises become a FAIL line, with secrets masked out of its message?"""

    def check_boom(_app):
        raise RuntimeError(f"exploded with {app.config['SECRET_KEY']}")

    with app.app_context():
        results = doctor.run_checks(app, [check_boom])
    assert results == [doctor.Result("FAIL", "boom", "RuntimeError: exploded with ***")]


def test_urls_lose_their_passwords():
    """Are passwords removed from URLs before they are printed?"""
    assert doctor.safe_url("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert doctor.safe_url("postgresql://app:s3cret@db/pokerpay") == "postgresql://app:***@db/pokerpay"
    assert doctor.safe_url("http://127.0.0.1:5101") == "http://127.0.0.1:5101"
