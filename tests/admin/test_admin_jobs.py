"""The jobs page: queue lengths, a failed job with its error, retry and delete — audited."""
from __future__ import annotations

from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry

from app.redis_client import get_redis
from tests.admin.conftest import audit_events, post_form, sign_in


def _fail_one(app) -> str:
    """Run a job that fails on a real (in-process) RQ worker; returns its id."""
    with app.app_context():
        queue = Queue("default", connection=get_redis())
        job = queue.enqueue("operator.truediv", 1, 0)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        assert FailedJobRegistry(queue=queue).count == 1
        return job.id


def _state(app, job_id: str) -> tuple[int, int, bool]:
    with app.app_context():
        queue = Queue("default", connection=get_redis())
        return queue.count, FailedJobRegistry(queue=queue).count, Job.exists(job_id, connection=queue.connection)


def test_failed_job_is_shown_retried_and_deleted(app, staff):
    """Does ops see the failed job's error, and do retry and delete act once each, with a reason, audited?"""
    job_id = _fail_one(app)
    ops = sign_in(app, staff.ops)
    page = ops.get("/admin/jobs").get_data(as_text=True)
    assert "operator.truediv" in page and "ZeroDivisionError" in page and job_id in page
    assert 'hx-trigger="every 10s"' in page
    assert 'id="fig-failed-jobs">1<' in ops.get("/admin/").get_data(as_text=True)

    form = {"queue": "default", "job_id": job_id}
    assert post_form(ops, "/admin/jobs", "/admin/jobs/retry", {**form, "reason": ""}).status_code == 302
    assert _state(app, job_id) == (0, 1, True)  # no reason: nothing done
    unknown = post_form(ops, "/admin/jobs", "/admin/jobs/retry", {**form, "job_id": "nope", "reason": "try"})
    assert unknown.status_code == 302 and audit_events(app, "admin.job.retry") == []
    assert post_form(ops, "/admin/jobs", "/admin/jobs/retry", {**form, "queue": "evil", "reason": "try"}).status_code == 302

    assert post_form(ops, "/admin/jobs", "/admin/jobs/retry", {**form, "reason": "provider is back"}).status_code == 302
    assert _state(app, job_id) == (1, 0, True)
    [retried] = audit_events(app, "admin.job.retry")
    assert (retried.actor_id, retried.target_id, retried.reason) == (staff.ops.id, job_id, "provider is back")

    with app.app_context():
        queue = Queue("default", connection=get_redis())
        SimpleWorker([queue], connection=queue.connection).work(burst=True)  # fails again
    assert post_form(ops, "/admin/jobs", "/admin/jobs/delete", {**form, "reason": "obsolete"}).status_code == 302
    assert _state(app, job_id) == (0, 0, False)
    [deleted] = audit_events(app, "admin.job.delete")
    assert (deleted.actor_id, deleted.reason, deleted.details["queue"]) == (staff.ops.id, "obsolete", "default")
    assert "ZeroDivisionError" not in ops.get("/admin/jobs").get_data(as_text=True)
