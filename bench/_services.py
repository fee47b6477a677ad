"""Bring up what the benchmarks need: PostgreSQL (checked, started if it is a local cluster), a private Redis,
gunicorn servers; and a small HTTP load generator.

A benchmark run alone or by ``make bench`` calls :func:`ensure_postgres` and
:func:`redis_url`; a Redis started here (``redis-server`` on a free port, no
persistence) lives as long as the benchmark process.
"""
from __future__ import annotations

import atexit
import http.client
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from bench._common import ROOT, db_url

_started: list[subprocess.Popen] = []
#: the helper processes' output, for when a benchmark fails
LOG_DIR = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/pokerpay-bench-logs"))
LOG_DIR.mkdir(parents=True, exist_ok=True)


def _stop_all() -> None:
    for proc in reversed(_started):
        stop(proc)


atexit.register(_stop_all)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_postgres(timeout: float = 60) -> None:
    """PostgreSQL answers at BENCH_PG_URL; if not, start the local cluster (Debian's pg_ctlcluster) and wait."""
    def up() -> bool:
        try:
            with psycopg.connect(db_url("postgres"), connect_timeout=3):
                return True
        except psycopg.OperationalError:
            return False

    if up():
        return
    for command in (["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start"],
                    ["service", "postgresql", "start"]):
        if shutil.which(command[0]):
            subprocess.run(command, capture_output=True, check=False)
            break
    deadline = time.monotonic() + timeout
    while not up():
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL does not answer at {db_url('postgres')}")
        time.sleep(1)


_redis: list[str] = []


def redis_url() -> str:
    """BENCH_REDIS_URL if set, else a private redis-server started for this run."""
    if os.environ.get("BENCH_REDIS_URL"):
        return os.environ["BENCH_REDIS_URL"]
    if not _redis:
        port = free_port()
        proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started.append(proc)
        _wait_port(port, proc)
        _redis.append(f"redis://127.0.0.1:{port}/0")
    return _redis[0]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port}") from None
            time.sleep(0.2)


def gunicorn(app: str, env: dict, *, workers: int | None = None, port: int | None = None
             ) -> tuple[subprocess.Popen, int]:
    """``gunicorn -c gunicorn.conf.py APP`` (the production settings) on a free port; returns it and the port."""
    port = port or free_port()
    full_env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_LOG_LEVEL": "warning",
                "PYTHONPATH": str(ROOT)}
    if workers:
        full_env["WEB_CONCURRENCY"] = str(workers)
    binary = Path(sys.executable).with_name("gunicorn")
    log = open(LOG_DIR / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 - kept open for the process's life
    proc = subprocess.Popen([str(binary), "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null", app],
                            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    _started.append(proc)
    _wait_port(port, proc)
    # The port opens before the workers have imported the app: wait for answers from all of them.
    deadline = time.monotonic() + 180
    answered = 0
    while answered < 3 * (workers or 5) and time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            answered += 1
        except (OSError, http.client.HTTPException):
            time.sleep(0.5)
        finally:
            conn.close()
    return proc, port


def warm_up(port: int, path: str = "/", headers: dict | None = None, seconds: float = 5) -> None:
    """Requests until every worker has answered a few (gunicorn workers import the app lazily)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        threads = [threading.Thread(target=_one, args=(port, path, headers or {})) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def _one(port: int, path: str, headers: dict) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        pass
    finally:
        conn.close()


def process(args: list[str], env: dict, port: int | None = None) -> subprocess.Popen:
    """A helper process (RQ worker, sandbox) stopped when the benchmark ends; waits for ``port`` if given."""
    log = open(LOG_DIR / f"{Path(args[1]).stem}-{len(_started)}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                            stdout=log, stderr=subprocess.STDOUT)
    _started.append(proc)
    if port:
        _wait_port(port, proc)
    return proc


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), MiB; 0 for a process that has gone (a recycled worker)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- load generator -------------------------------------------------------------------------------

def _connection_loop(port_list, path, headers, start_at, stop_at, out):
    latencies, errors, n = [], 0, 0
    port = port_list[0]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.time() < start_at:
        time.sleep(0.001)
    while True:
        now = time.time()
        if now >= stop_at:
            break
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if not 200 <= response.status < 300:  # 204: an unchanged poll
                errors += 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - started)
        n += 1
    conn.close()
    out.extend(latencies)
    return errors


def _generator_process(ports, path, headers, start_at, stop_at, threads, queue):
    results: list[float] = []
    errors = [0]

    def run(i):
        # loopback round-robin: connection i of this process talks to server i mod n
        e = _connection_loop([ports[i % len(ports)]], path, headers, start_at, stop_at, results)
        errors[0] += e

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put((results, errors[0]))


def load(ports: list[int], path: str, headers: dict, *, seconds: float, connections: int = 32,
         processes: int = 4) -> dict:
    """Closed-loop GETs over ``connections`` keep-alive connections (``processes`` × threads) for ``seconds``.

    With several ports the connections are spread over them in turn (a
    loopback round-robin balancer).  Returns requests/s, p50/p99 ms, errors.
    """
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 1.0
    stop_at = start_at + seconds
    per = connections // processes
    procs = [ctx.Process(target=_generator_process,
                         args=(ports[i % len(ports):] + ports[:i % len(ports)], path, headers, start_at - 0.5,
                               stop_at, per, queue))
             for i in range(processes)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    # the first half second is warm-up (connections opening): counted from start_at
    latencies = sorted(x for r, _ in results for x in r)
    errors = sum(e for _, e in results)
    total = len(latencies)
    return {
        "rps": total / (seconds + 0.5),
        "p50_ms": latencies[total // 2] * 1000 if total else 0.0,
        "p99_ms": latencies[min(total - 1, int(total * 0.99))] * 1000 if total else 0.0,
        "requests": total, "errors": errors,
    }


def profile(pids: list[int], seconds: float, top: int = 12) -> list[tuple[str, float]]:
    """Sample these processes with py-spy (pinned in requirements.txt) for ``seconds``.

    Returns the ``top`` functions by inclusive share of the samples (a
    function counted once per sample even if it recurses), as "function
    (file:line)" and a fraction.  Empty if py-spy cannot attach (no ptrace).
    """
    import collections
    import tempfile

    binary = Path(sys.executable).with_name("py-spy")
    outputs, procs = [], []
    for pid in pids:
        out = tempfile.NamedTemporaryFile(suffix=".txt", delete=False)  # noqa: SIM115
        outputs.append(out.name)
        procs.append(subprocess.Popen([str(binary), "record", "--pid", str(pid), "--duration", str(int(seconds)),
                                       "--format", "raw", "--output", out.name, "--nonblocking"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for proc in procs:
        proc.wait()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for name in outputs:
        try:
            lines = Path(name).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            for frame in set(stack.split(";")):
                inclusive[frame] += n
    if not total:
        return []
    root = ROOT.as_posix() + "/"
    generic = ("<module>", "Thread.", "_worker (concurrent", "_WorkItem.run", "ThreadWorker.", "Flask.__call__",
               "Flask.wsgi_app", "Arbiter.", "Worker.", "BaseApplication.", "WSGIApplication.", "run (gunicorn")
    shown = [(frame.replace(root, ""), n / total) for frame, n in inclusive.most_common()
             if "(" in frame and not frame.startswith(generic)]
    return shown[:top]
