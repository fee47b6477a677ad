"""Misbehaviour on demand, shared by every sandbox server.

Tests and the chaos run tell a sandbox to be slow, fail with 5xx, hang past a
client's timeout, or (server-specific) duplicate / reorder / lose / delay things.  The
settings live in one :class:`Faults` object per server and are changed over
HTTP (``POST /_sandbox/faults`` with a JSON object) so a test in another
process can steer them.  Every random choice draws from a seeded RNG so a run
is reproducible from its seed.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field, fields

from flask import Blueprint, abort, current_app, jsonify, request


@dataclass
class Faults:
    #: added to every response, milliseconds
    latency_ms: int = 0
    #: probability (0..1) that a request is answered with HTTP 503
    error_rate: float = 0.0
    #: probability that a request sleeps ``hang_seconds`` before answering
    timeout_rate: float = 0.0
    hang_seconds: float = 5.0
    #: probability that a history page / notification is sent twice
    duplicate_rate: float = 0.0
    #: probability that a history page comes back shuffled
    reorder_rate: float = 0.0
    #: probability that an outgoing notification is silently dropped
    lose_rate: float = 0.0
    #: probability that a notification batch is held back ``late_seconds`` (so later ones overtake it)
    late_rate: float = 0.0
    late_seconds: float = 2.0
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def update(self, values: dict) -> None:
        known = {f.name for f in fields(self) if not f.name.startswith("_")}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        with self._lock:
            for name, value in values.items():
                setattr(self, name, type(getattr(self, name))(value))
            if "seed" in values:
                self._rng.seed(self.seed)

    def reset(self) -> None:
        self.update({f.name: f.default for f in fields(self) if not f.name.startswith("_")})

    def roll(self, rate: float) -> bool:
        """True with probability ``rate`` (thread-safe, seeded)."""
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def shuffle(self, items: list) -> None:
        with self._lock:
            self._rng.shuffle(items)

    def as_dict(self) -> dict:
        # Not dataclasses.asdict: it would try to deep-copy the lock and the RNG.
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def apply_to_request(self) -> None:
        """Latency, hangs and 5xx for the request being served (call in before_request)."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if self.roll(self.timeout_rate):
            time.sleep(self.hang_seconds)
        if self.roll(self.error_rate):
            abort(503)


def faults_blueprint(faults: Faults) -> Blueprint:
    """Control endpoints: GET/POST ``/_sandbox/faults`` and POST ``/_sandbox/faults/reset``.

    Requests to these endpoints are never subject to the faults themselves.
    """
    bp = Blueprint("sandbox_faults", __name__)

    @bp.get("/_sandbox/faults")
    def show():
        return jsonify(faults.as_dict())

    @bp.post("/_sandbox/faults")
    def change():
        try:
            faults.update(request.get_json(force=True) or {})
        except (ValueError, TypeError) as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(faults.as_dict())

    @bp.post("/_sandbox/faults/reset")
    def reset():
        faults.reset()
        return jsonify(faults.as_dict())

    return bp


def install(app, faults: Faults) -> None:
    """Register the control endpoints and apply the faults to every other request."""
    app.register_blueprint(faults_blueprint(faults))
    app.extensions["sandbox_faults"] = faults

    @app.before_request
    def _misbehave():
        if request.path.startswith("/_sandbox/") or request.path.startswith("/static"):
            return None
        current_app.extensions["sandbox_faults"].apply_to_request()
        return None
