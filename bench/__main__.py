"""Run every benchmark in turn: ``python -m bench`` (``make bench``), or some of them: ``python -m bench matching``.

A benchmark is a module of this package with a ``main(argv) -> int``; each
runs with its defaults and writes its own section of ``BENCHMARKS.md`` and its
rows of the summary table at the top.  They run one after another, never
together, so that none disturbs another's figures.  First PostgreSQL is
checked (and started if it is a local cluster) and a private Redis is started
for the run (``BENCH_REDIS_URL`` to use another); gunicorn, RQ workers and the
sandbox are started by the benchmarks that need them.  Needs ``pgbench``
(postgresql-client) and ``redis-server`` on the PATH.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def benchmarks() -> list[str]:
    """The benchmark modules of this package, by name."""
    names = [m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")]
    return sorted(n for n in names if callable(getattr(importlib.import_module(f"bench.{n}"), "main", None)))


def main(argv: list[str] | None = None) -> int:
    import os

    from bench import _common, _services

    argv = sys.argv[1:] if argv is None else argv
    _services.ensure_postgres()
    os.environ.setdefault("BENCH_REDIS_URL", _services.redis_url())
    _common.REDIS_URL = os.environ["BENCH_REDIS_URL"]  # before the benchmarks import it
    available = benchmarks()
    chosen = argv or available
    unknown = [n for n in chosen if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        print(f"=== bench.{name} ===", flush=True)
        started = time.perf_counter()
        code = importlib.import_module(f"bench.{name}").main([])
        print(f"=== bench.{name}: {'ok' if code == 0 else f'exit {code}'} in {time.perf_counter() - started:.0f} s ===",
              flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
