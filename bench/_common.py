"""What every benchmark shares: the PostgreSQL server, pgbench, the machine, and writing BENCHMARKS.md.

Each benchmark writes its own section of ``BENCHMARKS.md`` between
``<!-- bench:NAME -->`` markers and records its headline rows with
:func:`record`; the summary table at the top (``<!-- bench:summary -->``) is
rebuilt from every benchmark's latest rows (``bench/results.json``), so a
benchmark run alone updates its rows and leaves the others' as measured.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
RESULTS = Path(__file__).resolve().parent / "results.json"
SERVER = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
#: Redis for the apps under test (a database of its own; benchmarks flush nothing but their own keys)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


def db_url(name: str) -> str:
    return f"{SERVER}/{name}"


def sqlalchemy_url(name: str) -> str:
    return db_url(name).replace("postgresql://", "postgresql+psycopg://", 1)


def recreate(name: str) -> None:
    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def pgbench_args() -> list[str]:
    parts = urlsplit(SERVER)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    if parts.username:
        args += ["-U", parts.username]
    return args


def pgbench() -> str:
    return shutil.which("pgbench") or "/usr/bin/pgbench"


def pg_env() -> dict:
    env = dict(os.environ)
    if urlsplit(SERVER).password:
        env["PGPASSWORD"] = urlsplit(SERVER).password
    return env


def machine_cpu() -> tuple[float, float]:
    """Seconds of CPU the whole machine has spent busy, and idle, since boot (all cores; from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / tick, idle / tick


def memory_gib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024 // 1024
    except OSError:
        pass
    return 0


def machine() -> str:
    with psycopg.connect(db_url("postgres")) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                    for name in ("synchronous_commit", "fsync", "shared_buffers")}
    return (f"{os.cpu_count()} cores, {memory_gib()} GiB memory, PostgreSQL {version}"
            f" (synchronous_commit={settings['synchronous_commit']}, fsync={settings['fsync']},"
            f" shared_buffers={settings['shared_buffers']}), Python {sys.version.split()[0]}")


def write_section(name: str, lines: list[str]) -> None:
    """Replace (or append) the ``<!-- bench:name -->`` section of BENCHMARKS.md."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = "\n".join([begin, *lines, end])
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)


def row(what: str, ours: str, baseline: str = "—", ratio: str = "—", target: str = "—",
        met: bool | None = None, goal: str | None = None) -> dict:
    """One line of the summary table; ``met`` None when there is no target.

    ``goal`` names the design target the row is evidence for (a row of the at-a-glance table); several rows
    may name one goal (sizes of one configuration): the glance shows the worst of them.
    """
    entry = {"what": what, "ours": ours, "baseline": baseline, "ratio": ratio, "target": target, "met": met}
    if goal:
        entry["goal"] = goal
    return entry


def _ratio_value(r: dict) -> float:
    try:
        return float(str(r["ratio"]).rstrip("×").split()[0])
    except (ValueError, IndexError):
        return float("inf")


def _glance(results: dict) -> list[str]:
    """One row per design target: the worst of its evidence rows (a target unmet anywhere shows unmet)."""
    goals: dict[str, list[tuple[str, dict, dict]]] = {}
    for name in sorted(results):
        for r in results[name]["rows"]:
            if r.get("goal"):
                goals.setdefault(r["goal"], []).append((name, results[name], r))
    lines = ["| target | figure | same-run baseline | ratio | target | met | measured |",
             "|---|---|---|---|---|---|---|"]
    for goal, rows in goals.items():
        name, entry, r = min(rows, key=lambda t: (t[2]["met"] is True, _ratio_value(t[2])))
        verdict = "met" if r["met"] else "**NOT met**"
        lines.append(f"| {goal} | {r['ours']} | {r['baseline']} | {r['ratio']} | {r['target']} | {verdict} |"
                     f" {name}, {entry['measured']} |")
    return lines


def record(name: str, rows: list[dict]) -> None:
    """Store a benchmark's headline rows and rebuild the summary table."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                     "load": round(os.getloadavg()[0], 1), "rows": rows}
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    write_summary(results)


def write_summary(results: dict | None = None) -> None:
    if results is None:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    lines = ["## Summary", "",
             "Every figure next to its baseline measured in the same run on the same machine (the details and what"
             " limits each are in its section below).  `make bench` runs them all; `python -m bench NAME` one.", "",
             "### At a glance: one row per target", "",
             "Where a target was measured in several sizes of the production configuration, the worst is shown.",
             "", *_glance(results), "",
             "### Every configuration", "",
             "| benchmark | measured | ours | baseline (same run) | ratio | target | |",
             "|---|---|---|---|---|---|---|"]
    machines = set()
    for name in sorted(results):
        entry = results[name]
        machines.add(entry["machine"])
        for r in entry["rows"]:
            verdict = "" if r["met"] is None else ("met" if r["met"] else "**NOT met**")
            load = f", load {entry['load']}" if "load" in entry else ""
            lines.append(f"| {name} ({entry['measured']}{load}) | {r['what']} | {r['ours']} | {r['baseline']} |"
                         f" {r['ratio']} | {r['target']} | {verdict} |")
    lines += ["", "Machine: " + "; ".join(sorted(machines)) + ".  Load: the 1-minute load average when the"
              " benchmark ended (other work on the machine takes CPU from both our figure and its baseline)."]
    write_section("summary", lines)
    text = BENCHMARKS.read_text()
    begin = "<!-- bench:summary -->"
    if not text.startswith("# Benchmarks\n\n" + begin):  # keep the summary first
        start, stop = text.index(begin), text.index("<!-- /bench:summary -->") + len("<!-- /bench:summary -->")
        section = text[start:stop]
        rest = (text[:start] + text[stop:]).replace("# Benchmarks\n", "", 1).strip("\n")
        BENCHMARKS.write_text(f"# Benchmarks\n\n{section}\n\n{rest}\n")
