"""Carry the request id from the web request into the jobs it queues.

A buyer's click produces log lines in the web process and, seconds later, in
an RQ worker.  The id set per request (``g.request_id``, from the
``X-Request-ID`` header or a fresh one) travels in the job's ``meta``, and the
job restores it into its own app context, so ``grep <id>`` finds both halves.

The enqueue code calls :func:`job_meta` while the request is still current;
the job wrapper calls :func:`restore_request_id` inside its app context.
Scheduled jobs have no request: their log lines carry only the job id.
"""
from __future__ import annotations

from flask import g, has_app_context

META_KEY = "request_id"


def current_request_id() -> str | None:
    """The id of the request (or job) running in this app context, if any."""
    if not has_app_context():
        return None
    return g.get("request_id") or None


def job_meta(meta: dict | None = None) -> dict:
    """``meta`` for ``Queue.enqueue``: the given dict plus the current request id (when there is one)."""
    merged = dict(meta or {})
    request_id = current_request_id()
    if request_id and META_KEY not in merged:
        merged[META_KEY] = request_id
    return merged


def restore_request_id(job=None) -> str | None:
    """Inside a job's app context: make the originating request id (and the job id) current.

    ``job`` defaults to RQ's current job; called outside a worker (a job
    function run directly, e.g. in a test) it changes nothing.
    """
    if job is None:
        from rq import get_current_job

        job = get_current_job()
    if job is None or not has_app_context():
        return None
    g.job_id = job.id
    request_id = (job.meta or {}).get(META_KEY)
    if request_id:
        g.request_id = str(request_id)[:64]
    return request_id
