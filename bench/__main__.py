"""Run every benchmark in turn: ``python -m bench`` (``make bench``), or some of them: ``python -m bench matching``.

A benchmark is a module of this package with a ``main(argv) -> int``; each
runs with its defaults and writes its own section of ``BENCHMARKS.md``.  They
run one after another, never together, so that none disturbs another's figures.
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
    argv = sys.argv[1:] if argv is None else argv
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
