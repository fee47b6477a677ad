"""One-shot misbehaviour aimed at a single endpoint, for the "unknown outcome" tests.

:class:`~sandbox.faults.Faults` act on every request at random; the questions
"what if Init was processed but its answer was lost?" need a fault on *the
next* call to *one* path, and on the far side of the processing:

* ``error_before`` / ``hang_before`` — answer 5xx / sleep before the request is handled;
* ``error_after`` / ``hang_after`` — handle it (the payment exists), then answer 5xx / sleep.

Set with ``POST /_sandbox/providers/glitches`` ``{"path": "/tbank/v2/Init", "mode": "hang_after",
"count": 1, "seconds": 0.5, "status": 500}``; cleared with ``DELETE``.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

from flask import Response, g, request

MODES = ("error_before", "hang_before", "error_after", "hang_after")


@dataclass
class Glitch:
    path: str
    mode: str
    count: int = 1
    seconds: float = 0.5
    status: int = 500

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.count, self.seconds, self.status = int(self.count), float(self.seconds), int(self.status)


class Glitches:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Glitch] = []

    def add(self, glitch: Glitch) -> None:
        with self._lock:
            self._items.append(glitch)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def pending(self) -> list[dict]:
        with self._lock:
            return [asdict(item) for item in self._items]

    def take(self, path: str) -> Glitch | None:
        with self._lock:
            for item in self._items:
                if item.path == path and item.count > 0:
                    item.count -= 1
                    if item.count == 0:
                        self._items.remove(item)
                    return item
        return None


def install(app, glitches: Glitches) -> None:
    app.extensions["sandbox_glitches"] = glitches

    @app.before_request
    def _glitch_before():
        if request.path.startswith("/_sandbox/"):
            return None
        glitch = glitches.take(request.path)
        if glitch is None:
            return None
        g.sandbox_glitch = glitch
        if glitch.mode == "hang_before":
            time.sleep(glitch.seconds)
        elif glitch.mode == "error_before":
            return Response("sandbox glitch", glitch.status)
        return None

    @app.after_request
    def _glitch_after(response):
        glitch = g.pop("sandbox_glitch", None)
        if glitch is None:
            return response
        if glitch.mode == "hang_after":
            time.sleep(glitch.seconds)
        elif glitch.mode == "error_after":
            return Response("sandbox glitch", glitch.status)
        return response
