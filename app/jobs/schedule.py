"""Periodic jobs: pollers and the sweepers that re-drive unfinished work.

Each entry is (dotted function path, interval in seconds).  Features add their
entries here; `python worker.py cron` registers them with RQ's cron scheduler.
"""
from __future__ import annotations

PERIODIC_JOBS: list[tuple[str, int]] = []
