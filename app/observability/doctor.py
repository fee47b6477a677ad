"""`flask doctor`: is this deployment fit to run?

Each check prints one line -- ``OK``, ``WARN`` or ``FAIL``, its name and a
one-line reason -- and the command exits 1 when any check fails, so a
release script or a container entrypoint can gate on it.  A check that
crashes is a FAIL with the error's type and first line.  Nothing printed
contains a secret: URLs lose their passwords and every configured secret value
is masked in the output as a last line of defence.

The checks read the same configuration the app runs with; run it with the
environment of the processes it is meant to vouch for.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit, urlunsplit

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

OK, WARN, FAIL = "OK", "WARN", "FAIL"
_RANK = {OK: 0, WARN: 1, FAIL: 2}
#: database vs process clock, seconds
CLOCK_WARN_SECONDS = 2.0
CLOCK_FAIL_SECONDS = 30.0
PROVIDER_URL_SETTINGS = ("YOOMONEY_BASE_URL", "YOOMONEY_QUICKPAY_URL", "YOOKASSA_BASE_URL", "TBANK_BASE_URL")


@dataclass(frozen=True)
class Result:
    status: str
    check: str
    reason: str


Check = Callable[[Flask], Result]


# -- helpers -----------------------------------------------------------------------


def environment_name(app: Flask) -> str:
    """development, testing or production: the config the app was made from."""
    if app.config.get("POKERPAY_CONFIG"):
        return app.config["POKERPAY_CONFIG"]
    if app.testing:
        return "testing"
    return os.environ.get("POKERPAY_CONFIG", "development")


def is_production(app: Flask) -> bool:
    return environment_name(app) == "production"


def safe_url(url: str) -> str:
    """``url`` without its password (``user:***@host``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    userinfo = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=userinfo + host))


def _secret_values(app: Flask) -> list[str]:
    values = [app.config.get("SECRET_KEY"), app.config.get("ROOM_API_TOKEN"), app.config.get("METRICS_TOKEN"),
              os.environ.get("METRICS_TOKEN")]
    keys = app.config.get("ENCRYPTION_KEYS") or []
    values += keys.split(",") if isinstance(keys, str) else list(keys)
    for setting in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "ROOM_API_URL"):
        try:
            values.append(urlsplit(str(app.config.get(setting) or "")).password)
        except ValueError:
            continue
    return [str(v) for v in values if v and len(str(v)) >= 4]


def redact(text: str, app: Flask) -> str:
    for secret in sorted(_secret_values(app), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _first_line(exc: BaseException) -> str:
    line = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=_RANK.__getitem__, default=OK)


# -- the checks ----------------------------------------------------------------------


def check_config(app: Flask) -> Result:
    name = environment_name(app)
    problems = []
    if name == "production":
        public_url = app.config.get("PUBLIC_BASE_URL", "")
        if not public_url.startswith("https://") or _is_loopback(public_url):
            problems.append(f"PUBLIC_BASE_URL {safe_url(public_url)!r} is not a public https address")
        for setting in ("FORCE_HTTPS", "SESSION_COOKIE_SECURE"):
            if not app.config.get(setting):
                problems.append(f"{setting} is off")
    if problems:
        return Result(WARN, "config", f"{name}: " + "; ".join(problems))
    return Result(OK, "config", f"{name} configuration")


def check_secret_key(app: Flask) -> Result:
    from config import DEFAULT_SECRET_KEY

    key = app.config.get("SECRET_KEY") or ""
    production = is_production(app)
    if not key or key == DEFAULT_SECRET_KEY:
        status = FAIL if production else WARN
        return Result(status, "secret_key", "SECRET_KEY is the development default: sessions can be forged")
    if production and len(key) < 32:
        return Result(WARN, "secret_key", f"SECRET_KEY is only {len(key)} characters; use 32 or more random ones")
    return Result(OK, "secret_key", "SECRET_KEY is set (not the default)")


def check_keys(app: Flask) -> Result:
    from cryptography.fernet import Fernet

    keys = app.config.get("ENCRYPTION_KEYS") or []
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not keys:
        if is_production(app):
            return Result(FAIL, "keys", "ENCRYPTION_KEYS is empty (`flask keys generate`)")
        return Result(WARN, "keys", "ENCRYPTION_KEYS is empty: a key derived from SECRET_KEY is used (development only)")
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return Result(FAIL, "keys", f"ENCRYPTION_KEYS entry {number} of {len(keys)} is not a valid Fernet key")
    if len(set(keys)) != len(keys):
        return Result(WARN, "keys", "ENCRYPTION_KEYS lists the same key twice")
    return Result(OK, "keys", f"{len(keys)} valid Fernet key(s); the first encrypts, all decrypt")


def check_database(app: Flask) -> Result:
    from app.extensions import db

    engine = db.engine
    started = time.perf_counter()
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    took = (time.perf_counter() - started) * 1000
    where = engine.url.render_as_string(hide_password=True)
    if engine.dialect.name == "sqlite" and is_production(app):
        return Result(FAIL, "database", f"{where} is SQLite; production needs PostgreSQL (DATABASE_URL)")
    return Result(OK, "database", f"{where} answers ({took:.0f} ms)")


def check_migrations(app: Flask) -> Result:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from app.extensions import db

    directory = app.extensions["migrate"].directory
    config = Config(os.path.join(directory, "alembic.ini"))
    config.set_main_option("script_location", directory)
    script = ScriptDirectory.from_config(config)
    heads = set(script.get_heads())
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    head_text = ", ".join(sorted(heads))
    if current == heads:
        return Result(OK, "migrations", f"database at head {head_text}")
    if not current:
        return Result(FAIL, "migrations", f"database has no schema revision (code head {head_text}): "
                                          "run `flask db upgrade`")
    unknown = []
    for revision in sorted(current):
        try:
            if script.get_revision(revision) is None:
                unknown.append(revision)
        except CommandError:
            unknown.append(revision)
    if unknown:
        return Result(FAIL, "migrations", f"database at {', '.join(unknown)}, unknown to this code (head "
                                          f"{head_text}): newer code migrated it, or it is the wrong database")
    return Result(FAIL, "migrations", f"database at {', '.join(sorted(current))}, code at head {head_text}: "
                                      "run `flask db upgrade`")


def _embedded_redis(app: Flask) -> bool:
    from app.redis_client import _embedded

    url = app.config.get("REDIS_URL", "")
    return any(server.socket_file and server.socket_file in url for server in _embedded.values())


def check_redis(app: Flask) -> Result:
    connection = app.extensions["redis"]
    started = time.perf_counter()
    connection.ping()
    took = (time.perf_counter() - started) * 1000
    if _embedded_redis(app):
        if is_production(app):
            return Result(FAIL, "redis", "REDIS_URL is unset: an embedded Redis per process is not shared "
                                         "by the web, worker and scheduler processes")
        return Result(OK, "redis", f"embedded redis-server answers ({took:.0f} ms; REDIS_URL unset)")
    where = safe_url(app.config.get("REDIS_URL", ""))
    try:
        policy = connection.config_get("maxmemory-policy").get("maxmemory-policy")
    except Exception:  # noqa: BLE001 - managed Redis services often forbid CONFIG
        policy = None
    if policy and policy != "noeviction":
        return Result(WARN, "redis", f"{where} answers but maxmemory-policy is {policy}: "
                                     "Redis may evict queued jobs (use noeviction)")
    return Result(OK, "redis", f"{where} answers ({took:.0f} ms)")


def check_processes(app: Flask) -> Result:
    from rq import Worker
    from rq.cron_scheduler_registry import get_registry_key
    from rq.defaults import DEFAULT_CRON_SCHEDULER_TTL

    connection = app.extensions["redis"]
    workers = Worker.count(connection=connection)
    heartbeats = [score for _name, score in connection.zrange(get_registry_key(), 0, -1, withscores=True)]
    alive = [s for s in heartbeats if time.time() - s <= DEFAULT_CRON_SCHEDULER_TTL]
    problems = []
    if not workers:
        problems.append("no RQ worker is running (`python worker.py`): jobs wait")
    if not alive:
        problems.append("no scheduler heartbeat (`python worker.py cron`): pollers and sweepers do not run")
    elif len(alive) > 1:
        problems.append(f"{len(alive)} schedulers alive; run exactly one")
    if problems:
        return Result(WARN, "processes", "; ".join(problems))
    return Result(OK, "processes", f"{workers} RQ worker(s), 1 scheduler alive")


def check_room(app: Flask) -> Result:
    from app.connectors.room.base import RoomError
    from app.connectors.room.registry import room_connector_from_config

    kind = app.config.get("ROOM_CONNECTOR", "sandbox")
    try:
        connector = room_connector_from_config(app.config)
    except ValueError as exc:
        return Result(FAIL, "room", str(exc))
    if connector is None:
        return Result(WARN, "room", f"ROOM_CONNECTOR={kind}: fed by ops (statement uploads, manual entries); "
                                    "nothing to poll, cash-outs wait for an operator")
    # A quick answer or none: doctor is run by a person waiting for it.
    if hasattr(connector, "retries"):
        connector.retries = 0
    if hasattr(connector, "timeout"):
        connector.timeout = (3.05, 5)
    where = safe_url(app.config.get("ROOM_API_URL", ""))
    try:
        balance = connector.balance()
    except RoomError as exc:
        return Result(FAIL, "room", f"{kind} room at {where} does not answer balance(): {type(exc).__name__}")
    finally:
        session = getattr(connector, "session", None)
        if session is not None:
            session.close()
    dollars, cents = divmod(balance, 100)
    return Result(OK, "room", f"{kind} room at {where} answers; platform account holds {dollars}.{cents:02d} USD")


def check_providers(app: Flask) -> Result:
    production = is_production(app)
    #: (status, problem) -> the settings that have it, so one line stays readable
    problems: dict[tuple[str, str], list[str]] = {}
    for setting in PROVIDER_URL_SETTINGS:
        url = str(app.config.get(setting) or "")
        parts = urlsplit(url)
        if not url:
            problem = (FAIL, "not set")
        elif parts.scheme not in ("http", "https") or not parts.hostname:
            problem = (FAIL, "not an http(s) URL")
        elif production and _is_loopback(url):
            problem = (FAIL, "pointing at this host (the sandbox)")
        elif production and parts.scheme != "https":
            problem = (WARN, "not https")
        else:
            continue
        problems.setdefault(problem, []).append(setting)
    if problems:
        reason = "; ".join(f"{', '.join(settings)}: {text}" for (_, text), settings in problems.items())
        return Result(_worst(status for status, _ in problems), "providers", reason)
    return Result(OK, "providers", f"{len(PROVIDER_URL_SETTINGS)} provider URLs set")


def check_metrics(app: Flask) -> Result:
    from app.observability.metrics_access import DEFAULT_ALLOW_NETWORKS, metrics_token, parse_networks, setting

    raw = setting("METRICS_ALLOW_NETWORKS", DEFAULT_ALLOW_NETWORKS)
    networks, invalid = parse_networks(",".join(raw) if isinstance(raw, list | tuple) else str(raw or ""))
    if invalid:
        return Result(FAIL, "metrics", f"METRICS_ALLOW_NETWORKS has invalid entries: {', '.join(invalid)}")
    token = metrics_token()
    if token and len(token) < 16 and is_production(app):
        return Result(WARN, "metrics", "METRICS_TOKEN is shorter than 16 characters")
    who = ", ".join(str(n) for n in networks) or "no network"
    return Result(OK, "metrics", f"/metrics open to {who}" + (" and to the bearer token" if token else ""))


def database_clock_skew(engine: sa.Engine) -> tuple[float, float]:
    """(database clock minus this process's clock, round trip), both in seconds."""
    if engine.dialect.name == "postgresql":
        query = "SELECT EXTRACT(EPOCH FROM clock_timestamp())"
    elif engine.dialect.name == "sqlite":
        query = "SELECT (julianday('now') - 2440587.5) * 86400.0"
    else:
        query = "SELECT CURRENT_TIMESTAMP"
    with engine.connect() as connection:
        before = time.time()
        value = connection.execute(sa.text(query)).scalar_one()
        after = time.time()
    if hasattr(value, "timestamp"):
        value = value.timestamp()
    return float(value) - (before + after) / 2, after - before


def clock_verdict(skew: float) -> str:
    if abs(skew) > CLOCK_FAIL_SECONDS:
        return FAIL
    if abs(skew) > CLOCK_WARN_SECONDS:
        return WARN
    return OK


def check_clock(app: Flask) -> Result:
    from app.extensions import db

    skew, round_trip = database_clock_skew(db.engine)
    direction = "ahead of" if skew >= 0 else "behind"
    note = " (SQLite shares this host's clock)" if db.engine.dialect.name == "sqlite" else ""
    return Result(clock_verdict(skew), "clock", f"database clock {abs(skew):.3f} s {direction} this process's "
                                                f"(round trip {round_trip * 1000:.0f} ms){note}")


CHECKS: tuple[Check, ...] = (
    check_config, check_secret_key, check_keys, check_database, check_migrations, check_redis,
    check_processes, check_room, check_providers, check_metrics, check_clock,
)


def run_checks(app: Flask, checks: Iterable[Check] = CHECKS) -> list[Result]:
    """Every check's result; a check that raises is a FAIL (with its error's first line)."""
    from app.extensions import db

    results = []
    for check in checks:
        name = check.__name__.removeprefix("check_")
        try:
            result = check(app)
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check, not a crashed doctor
            db.session.rollback()
            result = Result(FAIL, name, _first_line(exc))
        results.append(Result(result.status, result.check, redact(result.reason, app)))
    return results


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """Check configuration, keys, database, migrations, Redis, room, providers and clock."""
    results = run_checks(current_app._get_current_object())
    for result in results:
        click.echo(f"{result.status:<4} {result.check:<10} {result.reason}")
    counts = {status: sum(r.status == status for r in results) for status in (OK, WARN, FAIL)}
    click.echo(f"{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failure(s)")
    if counts[FAIL]:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(doctor_command)
