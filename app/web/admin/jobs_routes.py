"""Background jobs: queue lengths, failed jobs with their errors, retry or delete (audited)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from redis import RedisError
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from app.errors import DomainError
from app.extensions import db
from app.operations import rq_jobs
from app.web.admin.actions import ReasonForm, action_rate_limit
from app.web.admin.blueprint import bp, section

section("jobs", _l("Jobs"))


class JobActionForm(ReasonForm):
    queue = HiddenField(validators=[DataRequired(), Length(max=64)])
    job_id = HiddenField(validators=[DataRequired(), Length(max=200)])


def _redis_down() -> str:
    return _("Redis does not answer; jobs wait in the database and sweepers re-drive them.")


@bp.get("/jobs")
def jobs():
    """Queue lengths (refreshing themselves) and the failed jobs with their errors."""
    try:
        stats, failed, error = rq_jobs.queue_stats(), rq_jobs.failed_jobs(), None
    except RedisError:
        stats, failed, error = [], [], _redis_down()
    return render_template("admin/jobs.html", stats=stats, failed_count=len(failed), failed=failed, error=error,
                           form=JobActionForm())


@bp.get("/jobs/stats")
def jobs_stats():
    """The queue lengths alone, for HTMX polling."""
    try:
        stats, error = rq_jobs.queue_stats(), None
    except RedisError:
        stats, error = [], _redis_down()
    return render_template("admin/_jobs_stats.html", stats=stats, error=error,
                           failed_count=request.args.get("shown", 0, type=int))


def _act(action, done: str):
    form = JobActionForm()
    if not form.validate_on_submit():
        flash(_("Give a reason."), "danger")
        return redirect(url_for("admin.jobs"))
    try:
        action(form.queue.data, form.job_id.data, actor=current_user, reason=form.reason.data)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("admin.jobs"))
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("admin.jobs"))


@bp.post("/jobs/retry")
@action_rate_limit
def job_retry():
    """Put a failed job back in its queue (jobs are idempotent)."""
    return _act(rq_jobs.retry, _("The job is back in the queue."))


@bp.post("/jobs/delete")
@action_rate_limit
def job_delete():
    """Delete a failed job."""
    return _act(rq_jobs.delete, _("The job is deleted."))
