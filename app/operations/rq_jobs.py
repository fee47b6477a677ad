"""The background-job queues as ops see them: lengths, failed jobs with their errors, retry, delete.

Built on RQ's own registries (what rq-dashboard shows), inside the ops guard
and the app's CSP.  Retrying is safe because every job is idempotent and takes
ids only (see :mod:`app.jobs`).  Each retry and delete is audited.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from app.core import audit
from app.errors import NotFound, ValidationFailed
from app.redis_client import get_redis

FAILED_LIST_LIMIT = 50
#: characters of a traceback shown (the end, where the error is)
TRACEBACK_LIMIT = 4000


@dataclass(frozen=True)
class QueueStats:
    name: str
    queued: int
    started: int
    scheduled: int
    deferred: int
    failed: int
    finished: int


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    func_name: str
    args: str
    enqueued_at: datetime | None
    ended_at: datetime | None
    #: the exception's last line
    error: str
    traceback: str


def queue_names() -> list[str]:
    return list(current_app.config.get("RQ_QUEUES", ["default"]))


def _queue(name: str) -> Queue:
    if name not in queue_names():
        raise NotFound(str(_l("No such queue.")))
    return Queue(name, connection=get_redis())


def queue_stats() -> list[QueueStats]:
    stats = []
    for name in queue_names():
        queue = _queue(name)
        stats.append(QueueStats(
            name=name, queued=queue.count, started=StartedJobRegistry(queue=queue).count,
            scheduled=ScheduledJobRegistry(queue=queue).count, deferred=DeferredJobRegistry(queue=queue).count,
            failed=FailedJobRegistry(queue=queue).count, finished=FinishedJobRegistry(queue=queue).count,
        ))
    return stats


def _error_text(job: Job) -> str:
    try:
        result = job.latest_result()
        text = (result.exc_string if result is not None else None) or job.exc_info or ""
    except Exception:  # noqa: BLE001 - an unreadable result still lists the job
        text = job.exc_info or ""
    return text


def failed_jobs(limit: int = FAILED_LIST_LIMIT) -> list[FailedJob]:
    """The newest failed jobs of every queue, with the end of their tracebacks."""
    jobs = []
    for name in queue_names():
        queue = _queue(name)
        ids = FailedJobRegistry(queue=queue).get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=queue.connection):
            if job is None:
                continue
            text = _error_text(job).strip()
            try:
                args = ", ".join(repr(a) for a in job.args)[:200]
                func_name = job.func_name
            except Exception:  # noqa: BLE001 - a job whose function no longer imports
                args, func_name = "", "?"
            jobs.append(FailedJob(
                id=job.id, queue=name, func_name=func_name, args=args, enqueued_at=job.enqueued_at,
                ended_at=job.ended_at, error=(text.splitlines() or [""])[-1][:300], traceback=text[-TRACEBACK_LIMIT:],
            ))
    jobs.sort(key=lambda j: j.ended_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return jobs[:limit]


def _failed(queue_name: str, job_id: str) -> tuple[FailedJobRegistry, str]:
    registry = FailedJobRegistry(queue=_queue(queue_name))
    job_id = (job_id or "").strip()
    if not job_id or job_id not in registry:
        raise NotFound(str(_l("This job is no longer among the failed ones.")))
    return registry, job_id


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(str(_l("A reason is required.")))
    return reason


def retry(queue_name: str, job_id: str, *, actor, reason: str) -> None:
    """Put a failed job back at the end of its queue (jobs are idempotent)."""
    reason = _reason(reason)
    registry, job_id = _failed(queue_name, job_id)
    try:
        registry.requeue(job_id)
    except NoSuchJobError as exc:
        raise NotFound(str(_l("This job is no longer among the failed ones."))) from exc
    audit.record("admin.job.retry", actor=actor, target_type="rq_job", target_id=job_id[:64], reason=reason,
                 queue=queue_name)


def delete(queue_name: str, job_id: str, *, actor, reason: str) -> None:
    """Forget a failed job (its work is done another way or no longer needed)."""
    reason = _reason(reason)
    registry, job_id = _failed(queue_name, job_id)
    try:
        Job.fetch(job_id, connection=registry.connection).delete()
    except NoSuchJobError:
        registry.remove(job_id)
    audit.record("admin.job.delete", actor=actor, target_type="rq_job", target_id=job_id[:64], reason=reason,
                 queue=queue_name)
