"""The real system for the chaos run: its own Redis, a private PostgreSQL database, the
sandbox room and providers, gunicorn, RQ workers and the RQ cron scheduler.

Every process listens on loopback only, on free ports; logs go to the run's
directory.  A supervisor thread restarts RQ processes that died (the fault
injector SIGKILLs them); gunicorn's master respawns its own workers.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_PG_URL = os.environ.get("CHAOS_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: connections of the run's own checker carry this name; a "PostgreSQL connection drop" spares them
CHECKER_APP_NAME = "chaos-checker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict
    log: Path
    popen: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - owned by the child
        self.popen = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10) -> None:
        if not self.alive():
            return
        self.kill(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.popen.wait(5)


@dataclass
class System:
    seed: int
    workdir: Path
    rq_workers: int = 2
    web_workers: int = 3
    invoice_lifetime: int = 60
    ports: dict = field(default_factory=dict)
    procs: dict = field(default_factory=dict)
    db_name: str = ""
    restarts: int = 0
    _supervise: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- addresses -----------------------------------------------------------------------------

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}"

    @property
    def room_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['room']}"

    @property
    def providers_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['providers']}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports['redis']}/0"

    @property
    def database_url(self) -> str:
        return sa.make_url(ADMIN_PG_URL).set(database=self.db_name).render_as_string(hide_password=False)

    def checker_engine(self) -> sa.Engine:
        return sa.create_engine(self.database_url, pool_pre_ping=True,
                                connect_args={"application_name": CHECKER_APP_NAME})

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in ("redis", "web", "room", "providers"):
            self.ports[name] = free_port()
        self.db_name = f"chaos_{self.seed}_{os.getpid()}"
        self.env = self._env()
        self._create_database()
        self._add("redis", ["redis-server", "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", str(self.workdir)])
        self.procs["redis"].start()
        wait_until(self._redis_up, 15, what="redis")
        subprocess.run([str(BIN / "flask"), "db", "upgrade"], env=self.env, cwd=ROOT, check=True,
                       stdout=open(self.workdir / "migrate.log", "ab"), stderr=subprocess.STDOUT)
        self._add("sandbox", [sys.executable, "-m", "sandbox", "--room-port", str(self.ports["room"]),
                              "--providers-port", str(self.ports["providers"]), "--seed", str(self.seed), "--quiet"])
        self.procs["sandbox"].start()
        wait_until(lambda: requests.get(self.room_url + "/_sandbox/faults", timeout=1).ok, 20, what="sandbox")
        self._add("web", [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.ports['web']}",
                          "--workers", str(self.web_workers), "--access-logfile", "-", "wsgi:app"])
        self.procs["web"].start()
        for i in range(self.rq_workers):
            self._add(f"worker{i}", [sys.executable, "worker.py"])
            self.procs[f"worker{i}"].start()
        self._add("scheduler", [sys.executable, "worker.py", "cron"])
        self.procs["scheduler"].start()
        wait_until(lambda: requests.get(self.web_url + "/healthz", timeout=2).ok, 60, what="gunicorn")
        self._supervise = True
        threading.Thread(target=self._supervisor, name="chaos-supervisor", daemon=True).start()

    def stop(self, drop_database: bool = True) -> None:
        self._supervise = False
        for name in [n for n in self.procs if n != "redis"] + ["redis"]:
            if name in self.procs:
                self.procs[name].stop()
        if drop_database and self.db_name:
            engine = sa.create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as c:
                    c.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            finally:
                engine.dispose()

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POKERPAY_", "FLASK_", "WERKZEUG_"))}
        providers = self.providers_url
        env.update({
            "FLASK_APP": "wsgi",
            "POKERPAY_CONFIG": "development",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.database_url if self.db_name else "",
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": f"chaos-secret-{self.seed}-{os.getpid()}-0123456789abcdef",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "RATELIMIT_ENABLED": "0",
            "PUBLIC_BASE_URL": self.web_url,
            "ROOM_CONNECTOR": "sandbox",
            "ROOM_API_URL": self.room_url,
            "ROOM_READ_TIMEOUT": "2",
            "ROOM_CONNECT_TIMEOUT": "1",
            "YOOMONEY_BASE_URL": f"{providers}/yoomoney",
            "YOOMONEY_QUICKPAY_URL": f"{providers}/yoomoney/quickpay/confirm",
            "YOOKASSA_BASE_URL": f"{providers}/yookassa/v3",
            "TBANK_BASE_URL": f"{providers}/tbank/v2",
            "YOOKASSA_NOTIFY_IPS": "127.0.0.1/32",
            "PROVIDER_READ_TIMEOUT": "2",
            "PROVIDER_CONNECT_TIMEOUT": "1",
            "PROVIDER_RETRIES": "1",
            "PROVIDER_RETRY_BACKOFF": "0.1",
            "FORM_PROBE_INTERVAL": "15",
            "WEB_CONCURRENCY": str(self.web_workers),
            "GUNICORN_THREADS": "4",
            "GUNICORN_TIMEOUT": "20",
            "GUNICORN_GRACEFUL_TIMEOUT": "5",
            "GUNICORN_LOG_LEVEL": "warning",
            "LOG_FORMAT": "text",
        })
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return env

    def _create_database(self) -> None:
        self.env["DATABASE_URL"] = self.database_url
        engine = sa.create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
                c.execute(sa.text(f'CREATE DATABASE "{self.db_name}"'))
        finally:
            engine.dispose()

    def _add(self, name: str, argv: list[str]) -> None:
        self.procs[name] = Proc(name, argv, self.env, self.workdir / f"{name}.log")

    def _redis_up(self) -> bool:
        import redis

        return redis.Redis.from_url(self.redis_url, socket_timeout=1).ping()

    def _supervisor(self) -> None:
        """Restart RQ processes that died (killed ones included), like systemd would."""
        while self._supervise:
            with self._lock:
                for name, proc in self.procs.items():
                    if name.startswith(("worker", "scheduler")) and not proc.alive():
                        proc.start()
                        self.restarts += 1
            time.sleep(0.5)

    # --- faults --------------------------------------------------------------------------------

    def rq_names(self) -> list[str]:
        return [n for n in self.procs if n.startswith("worker")]

    def kill_rq(self, name: str) -> int | None:
        proc = self.procs[name]
        pid = proc.pid
        proc.kill(signal.SIGKILL)
        return pid

    def gunicorn_workers(self) -> list[int]:
        import psutil

        master = self.procs["web"].pid
        try:
            return [c.pid for c in psutil.Process(master).children()]
        except psutil.NoSuchProcess:
            return []

    def kill_pid(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def restart_redis(self, down_seconds: float = 1.0) -> None:
        with self._lock:
            self.procs["redis"].kill(signal.SIGKILL)
            self.procs["redis"].popen.wait(5)
            time.sleep(down_seconds)
            self.procs["redis"].start()
        wait_until(self._redis_up, 15, what="redis after restart")

    def drop_pg_connections(self) -> int:
        engine = self.checker_engine()
        try:
            with engine.begin() as c:
                return len(c.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid() AND coalesce(application_name, '') <> :me"
                ), {"db": self.db_name, "me": CHECKER_APP_NAME}).all())
        finally:
            engine.dispose()

    def stop_background(self) -> None:
        """Stop the RQ workers and the scheduler (for the final in-process sweep)."""
        self._supervise = False
        for name in self.procs:
            if name.startswith(("worker", "scheduler")):
                self.procs[name].stop()

    def alive_report(self) -> dict[str, bool]:
        return {name: proc.alive() for name, proc in self.procs.items()}
