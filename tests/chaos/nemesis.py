"""The nemesis: injects faults on a schedule drawn from the run's seed.

Process faults: SIGKILL of an RQ worker or the scheduler (the supervisor
restarts it), SIGKILL of a gunicorn worker (its master forks a new one), a
Redis restart with everything in it lost (queued jobs, locks, the cron
scheduler's registration), PostgreSQL connections of the app terminated
(``pg_terminate_backend``).

Sandbox faults, each switched on for a few seconds then off: provider and room
5xx, hangs past the client's timeout, slow answers; duplicated, reordered,
late and lost notifications; room history pages repeated and shuffled; room
sends that are made but answered with 503 or a hang (unknown outcome).
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter

import requests

PROVIDER_PROFILES = {
    "provider-5xx": {"error_rate": 0.35},
    "provider-timeout": {"timeout_rate": 0.3, "hang_seconds": 3},
    "provider-slow": {"latency_ms": 700},
    "notify-duplicate": {"duplicate_rate": 0.8},
    "notify-out-of-order": {"reorder_rate": 1.0, "late_rate": 0.5, "late_seconds": 3},
    "notify-lost": {"lose_rate": 0.6},
    "notify-mixed": {"duplicate_rate": 0.4, "reorder_rate": 0.5, "lose_rate": 0.3, "late_rate": 0.3,
                     "late_seconds": 2},
}
ROOM_PROFILES = {
    "room-5xx": ({"error_rate": 0.4}, {}),
    "room-timeout": ({"timeout_rate": 0.3, "hang_seconds": 3}, {}),
    "room-slow": ({"latency_ms": 600}, {}),
    "room-pages-repeated-reordered": ({"duplicate_rate": 0.9, "reorder_rate": 0.9}, {}),
    "room-send-unknown-outcome": ({"hang_seconds": 3}, {"fail_after_commit_rate": 0.4, "hang_after_commit_rate": 0.3}),
}


class Nemesis(threading.Thread):
    def __init__(self, system, seed: int, stop: threading.Event, *, interval: tuple[float, float],
                 redis_restarts: int, pg_drops: int, duration: float, log):
        super().__init__(name="nemesis", daemon=True)
        self.system, self.stop_event, self.interval = system, stop, interval
        self.rng = random.Random(seed)
        self.counts: Counter = Counter()
        self.log = log
        self.duration = duration
        # Redis restarts and PostgreSQL drops at seeded moments well inside the run, so every run has them.
        self.planned = sorted(
            [(duration * self.rng.uniform(0.15, 0.6), "redis-restart") for _ in range(redis_restarts)]
            + [(duration * self.rng.uniform(0.1, 0.7), "pg-drop") for _ in range(pg_drops)]
        )
        self.resets: list[tuple[float, str]] = []
        #: monotonic times of the PostgreSQL connection drops (a request caught mid-query may fail then)
        self.pg_drops_at: list[float] = []

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def run(self) -> None:
        started = time.monotonic()
        next_at = started + self.rng.uniform(*self.interval)
        while not self.stop_event.is_set():
            now = time.monotonic()
            self._expire_profiles(now)
            if self.planned and now - started >= self.planned[0][0]:
                _, what = self.planned.pop(0)
                self._do(what)
            elif now >= next_at:
                what = self.rng.choices(
                    ["kill-rq-worker", "kill-gunicorn-worker", "kill-scheduler", "provider", "room"],
                    [4, 4, 0.7, 3, 3])[0]
                self._do(what)
                next_at = now + self.rng.uniform(*self.interval)
            self.stop_event.wait(0.2)
        self.calm()

    def _do(self, what: str) -> None:
        try:
            getattr(self, what.replace("-", "_"))()
        except Exception as exc:  # noqa: BLE001 - a failed injection is logged, not fatal
            self.log(f"nemesis: {what} failed: {exc!r}")

    # --- process faults ------------------------------------------------------------------------

    def kill_rq_worker(self) -> None:
        name = self.rng.choice(self.system.rq_names())
        pid = self.system.kill_rq(name)
        self.counts["kill-rq-worker"] += 1
        self.log(f"nemesis: SIGKILL {name} (pid {pid})")

    def kill_scheduler(self) -> None:
        pid = self.system.kill_rq("scheduler")
        self.counts["kill-scheduler"] += 1
        self.log(f"nemesis: SIGKILL scheduler (pid {pid})")

    def kill_gunicorn_worker(self) -> None:
        workers = self.system.gunicorn_workers()
        if not workers:
            return
        pid = self.rng.choice(sorted(workers))
        self.system.kill_pid(pid)
        self.counts["kill-gunicorn-worker"] += 1
        self.log(f"nemesis: SIGKILL gunicorn worker {pid}")

    def redis_restart(self) -> None:
        self.system.restart_redis(down_seconds=self.rng.uniform(0.5, 3))
        self.counts["redis-restart"] += 1
        self.log("nemesis: Redis restarted (data lost)")

    def pg_drop(self) -> None:
        self.pg_drops_at.append(time.monotonic())
        dropped = self.system.drop_pg_connections()
        self.counts["pg-connection-drop"] += 1
        self.log(f"nemesis: terminated {dropped} PostgreSQL connections of the app")

    # --- sandbox faults ------------------------------------------------------------------------

    def provider(self) -> None:
        if any(name.startswith("provider:") for _, name in self.resets):
            return
        name = self.rng.choice(sorted(PROVIDER_PROFILES))
        values = dict(PROVIDER_PROFILES[name], seed=self.rng.randrange(1 << 30))
        requests.post(self.system.providers_url + "/_sandbox/faults", json=values, timeout=5).raise_for_status()
        self.resets.append((time.monotonic() + self.rng.uniform(3, 12), f"provider:{name}"))
        self.counts[name] += 1
        self.log(f"nemesis: providers {name} on")

    def room(self) -> None:
        if any(name.startswith("room:") for _, name in self.resets):
            return
        name = self.rng.choice(sorted(ROOM_PROFILES))
        faults, settings = ROOM_PROFILES[name]
        url = self.system.room_url
        requests.post(url + "/_sandbox/faults", json=dict(faults, seed=self.rng.randrange(1 << 30)),
                      timeout=5).raise_for_status()
        if settings:
            requests.post(url + "/_sandbox/room/settings", json=settings, timeout=5).raise_for_status()
        self.resets.append((time.monotonic() + self.rng.uniform(3, 12), f"room:{name}"))
        self.counts[name] += 1
        self.log(f"nemesis: room {name} on")

    def _expire_profiles(self, now: float) -> None:
        due = [(at, name) for at, name in self.resets if at <= now]
        for item in due:
            self.resets.remove(item)
            self._reset(item[1].split(":")[0])

    def _reset(self, which: str) -> None:
        try:
            if which == "provider":
                requests.post(self.system.providers_url + "/_sandbox/faults/reset", timeout=5)
            else:
                requests.post(self.system.room_url + "/_sandbox/faults/reset", timeout=5)
                requests.post(self.system.room_url + "/_sandbox/room/settings/reset", timeout=5)
        except requests.RequestException as exc:
            self.log(f"nemesis: reset {which} failed: {exc!r}")

    def calm(self) -> None:
        """All sandbox faults off (the end of the run)."""
        self.resets.clear()
        self._reset("provider")
        self._reset("room")

    @property
    def kills(self) -> int:
        return sum(v for k, v in self.counts.items() if k.startswith("kill-"))
