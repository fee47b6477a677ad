"""The suite fails when the application logs an unhandled exception or answers 5xx, unless the test expects it.

A page that answers 500 to a person is a broken product even when the test that loaded it checked something
else (an outside check once found a dashboard 500 behind a green suite).  Every test is watched:

- a record with an exception attached, at ERROR or above, from the application's loggers (``app.*``, Flask's
  ``flask.app``): what ``log.exception`` writes for an unhandled error, in a request or in a job run in-process;
- a response of 500 or more sent by the PokerPay app (not by the sandbox providers, whose failures are faults the
  tests inject on purpose), whether through the test client or a live server thread.

A test that provokes one on purpose says so with ``@pytest.mark.server_errors_expected``.
"""
from __future__ import annotations

import logging
import threading

import pytest
from flask import request_finished

WATCHED_LOGGERS = ("app", "flask.app")
#: the import name of the PokerPay Flask app (``Flask(__name__)`` in app/__init__.py)
APP_NAME = "app"


class _Seen:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.problems: list[str] = []

    def add(self, problem: str) -> None:
        with self.lock:
            self.problems.append(problem)

    def take(self) -> list[str]:
        with self.lock:
            taken, self.problems = self.problems, []
            return taken


_SEEN = _Seen()


class _ExceptionLogs(logging.Handler):
    """On the root logger, so the app's own logger keeps its handlers as production configures them."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        watched = any(record.name == name or record.name.startswith(name + ".") for name in WATCHED_LOGGERS)
        if watched and record.exc_info:
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "?"
            _SEEN.add(f"{record.name} logged an unhandled {kind}: {record.getMessage()}")


def _on_response(sender, response, **_extra) -> None:
    if getattr(sender, "name", None) == APP_NAME and response.status_code >= 500:
        from flask import request

        _SEEN.add(f"the app answered {response.status_code} to {request.method} {request.full_path.rstrip('?')}")


_HANDLER = _ExceptionLogs()


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "server_errors_expected: the test provokes a logged exception or a 5xx on purpose")
    logging.getLogger().addHandler(_HANDLER)  # the app's loggers propagate to the root in tests
    request_finished.connect(_on_response)  # held by this module, so the weak reference stays alive


@pytest.fixture(autouse=True)
def _no_unexpected_server_errors(request):
    _SEEN.take()
    yield
    problems = _SEEN.take()
    if problems and request.node.get_closest_marker("server_errors_expected") is None:
        shown = "\n  ".join(problems[:10])
        pytest.fail(f"the application failed during this test ({len(problems)}):\n  {shown}\n"
                    "(mark the test server_errors_expected if it provokes this on purpose)", pytrace=False)
