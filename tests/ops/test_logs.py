"""Request ids on log records, in requests and in the jobs those requests queue."""
from __future__ import annotations

import io
import json
import logging

import pytest
from flask import g

from app.core.request_context import job_meta, restore_request_id
from app.jobs import job
from app.observability.logs import JsonFormatter, RequestIdFilter, logging_config

log = logging.getLogger("app.tests.ops")


@pytest.fixture
def app_log():
    """What the ``app`` logger's own handler writes during the test.

    Alembic's ``fileConfig`` (migrations/env.py, run by the session fixtures)
    disables every logger that existed before it, so they are re-enabled here.
    """
    loggers = [logging.getLogger("app"), log, logging.getLogger("app.jobs")]
    disabled = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = False
    handler = logging.getLogger("app").handlers[0]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)
    for logger, was in zip(loggers, disabled):
        logger.disabled = was


def test_every_line_of_a_request_carries_its_id(app, app_log):
    """Does a line logged while serving a request show that request's X-Request-ID?"""
    from app.web.access import public

    @public
    def noisy():
        log.info("inside the request")
        return "ok"

    app.add_url_rule("/_test/noisy", view_func=noisy)
    response = app.test_client().get("/_test/noisy", headers={"X-Request-ID": "req-4242"})
    assert response.headers["X-Request-ID"] == "req-4242"
    assert "[req-4242] inside the request" in app_log.getvalue()


def test_json_lines_carry_request_and_job_ids(app):
    """Are request_id and job_id fields of the JSON line, and absent outside a request?"""
    record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "paid %s", ("inv-1",), None)
    with app.app_context():
        g.request_id, g.job_id = "req-1", "job-9"
        RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "paid inv-1"
    assert (line["request_id"], line["job_id"]) == ("req-1", "job-9")

    bare = logging.LogRecord("app.x", logging.INFO, __file__, 1, "tick", (), None)
    RequestIdFilter().filter(bare)
    assert "request_id" not in json.loads(JsonFormatter().format(bare))


def test_gunicorn_access_lines_become_fields():
    """Does a gunicorn access record become status, path, duration and request id fields in JSON?"""
    atoms = {"h": "10.0.0.1", "m": "GET", "U": "/healthz", "s": "200", "B": 15, "D": 1534,
             "{x-request-id}o": "abc"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(h)s %(s)s", atoms, None)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "10.0.0.1 200"
    assert line["status"] == "200" and line["path"] == "/healthz" and line["request_id"] == "abc"
    assert line["duration_ms"] == 1.5


def test_process_logging_config_is_valid():
    """Is the dictConfig for whole processes accepted by logging, in both formats?"""
    import logging.config

    for log_format in ("json", "text"):
        config = logging_config(log_format)
        config["loggers"] = {}  # leave this process's loggers alone
        config["root"] = {"level": "WARNING", "handlers": []}
        logging.config.dictConfig(config)


def test_job_meta_carries_the_request_id_into_the_job(app, app_log):
    """Does job_meta() put the request id in the job and restore_request_id() bring it back?"""
    from rq import Queue

    queue = Queue("default", connection=app.extensions["redis"])
    with app.test_request_context():
        g.request_id = "req-77"
        job = queue.enqueue("os.getpid", meta=job_meta({"purpose": "test"}))
    assert job.meta == {"purpose": "test", "request_id": "req-77"}

    fetched = queue.fetch_job(job.id)
    with app.app_context():  # what the job wrapper does, in the worker
        assert restore_request_id(fetched) == "req-77"
        log.info("settling")
    assert "[req-77] settling" in app_log.getvalue()


def test_without_a_request_nothing_is_added(app):
    """Outside a request (a scheduled job's enqueue), is meta left alone and restore a no-op?"""
    assert job_meta() == {}
    with app.app_context():
        assert job_meta({"a": 1}) == {"a": 1}
        assert restore_request_id() is None  # not inside an RQ job


def test_after_commit_carries_the_id_end_to_end(app, app_log):
    """Does a job queued by a request log its lines under that request's id, when run by a worker?"""
    from rq import Queue, SimpleWorker

    from app.core.after_commit import after_commit
    from app.extensions import db

    with app.test_request_context():
        g.request_id = "req-e2e"
        after_commit(logging_job, "hello")
        db.session.commit()
    connection = app.extensions["redis"]
    with app.app_context():
        SimpleWorker([Queue("default", connection=connection)], connection=connection).work(burst=True)
    assert "[req-e2e] job says hello" in app_log.getvalue()


@job
def logging_job(word: str) -> None:
    """A job for the end-to-end test: it only logs."""
    log.info("job says %s", word)


def test_a_hostile_request_id_cannot_forge_log_lines(app):
    """Is a client's X-Request-ID with a newline made harmless before it reaches a log line?"""
    record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "hello", (), None)
    with app.app_context():
        g.request_id = "abc\n2026-01-01 INFO app: forged"
        RequestIdFilter().filter(record)
    assert "\n" not in record.request_id and " " not in record.request_id
