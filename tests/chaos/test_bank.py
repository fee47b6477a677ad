"""The bank test, short mode: the real system under load and faults, then every check (see driver.py).

About two minutes: gunicorn, RQ workers and the scheduler, the sandboxes, its own
Redis and a private PostgreSQL database; concurrent sellers and buyers over HTTP;
SIGKILLed workers, a Redis restart, a PostgreSQL connection drop, misbehaving
providers and room.  The seed is printed (rerun with ``CHAOS_SEED=<seed>``).
The long mode is ``make chaos``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.chaos.system import ADMIN_PG_URL, ROOT


def _postgres_answers() -> bool:
    engine = sa.create_engine(ADMIN_PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        engine.dispose()


def test_bank_short_mode(tmp_path: Path):
    """Under kills, restarts and misbehaving sandboxes, is money conserved and every effect exactly once?"""
    if shutil.which("redis-server") is None:
        pytest.skip("the chaos run needs redis-server on PATH")
    if not _postgres_answers():
        pytest.skip(f"the chaos run needs PostgreSQL at {ADMIN_PG_URL.split('@')[-1]}")
    summary_path = tmp_path / "summary.json"
    argv = [sys.executable, "-m", "tests.chaos.driver", "--mode", "short", "--workdir", str(tmp_path / "run"),
            "--summary-json", str(summary_path)]
    done = subprocess.run(argv, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert summary_path.exists(), output[-5000:]
    summary = json.loads(summary_path.read_text())
    last = done.stdout.strip().splitlines()[-1]
    assert last == f"{summary['ops']} ops, {summary['faults']} faults, {len(summary['violations'])} violations"
    assert summary["violations"] == [], (
        f"seed {summary['seed']} (rerun: CHAOS_SEED={summary['seed']} make chaos-short); logs in {tmp_path}\n"
        + "\n".join(summary["violations"][:50]))
    assert done.returncode == 0, output[-5000:]
    # The run did what it claims: real load, real kills, every kind of process fault.
    assert summary["ops"] >= 100  # a busy machine does fewer; zero violations is the point
    assert summary["kills"] >= 5
    assert {"redis-restart", "pg-connection-drop"} <= set(summary["faults_by_kind"])
    assert summary["deposits"].get("settled", 0) > 0 and summary["room_in"] > 0
