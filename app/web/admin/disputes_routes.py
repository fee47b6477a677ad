"""Ops: disputes — both sides' claims, the provider's live evidence beside the thread, and the decision with a reason.

The queue lists escalated disputes first (the seller let the deadline pass).  Ops read
and write the same thread the buyer and the seller see (as "Support"), and open its
files here, behind the area's role and second-factor guard.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import RadioField
from wtforms.validators import InputRequired

from app.errors import DomainError, NotFound
from app.extensions import db
from app.market import dispute_threads
from app.operations import disputes
from app.web.admin.blueprint import bp, section
from app.web.admin.money_forms import ReasonForm, lookup_limited, rate_limited, reason_field
from app.web.disputes.forms import MessageForm
from app.web.file_downloads import file_response, serves_files
from app.web.htmx import is_htmx, varies_on_htmx

section("disputes_index", _l("Disputes"))


class ResolveForm(ReasonForm):
    decision = RadioField(_l("Decision"), choices=[
        ("confirm", _l("The buyer paid: settle (the buyer gets the dollars)")),
        ("reject", _l("Not paid: reject (the seller keeps the dollars)")),
    ], validators=[InputRequired(message=_l("Choose a decision."))])
    reason = reason_field()


@bp.get("/disputes")
def disputes_index():
    """Open disputes: escalated first, then oldest first."""
    return render_template("admin/disputes.html", items=dispute_threads.ops_queue())


def _dispute_page(deposit_id: int, *, form: ResolveForm | None = None, message_form: MessageForm | None = None,
                  status: int = 200):
    sides = disputes.sides(deposit_id)
    case = dispute_threads.for_ops(deposit_id)
    view = dispute_threads.view_of(case, "ops") if case else None
    return render_template(
        "admin/dispute.html", sides=sides, form=form or ResolveForm(), case=case,
        message_form=message_form or MessageForm(prefix="msg"),
        entries=view.entries if view else [], version=view.version if view else "",
        thread_url=url_for("admin.dispute_thread", deposit_id=deposit_id)), status


@bp.get("/disputes/<int:deposit_id>")
def dispute_show(deposit_id: int):
    """One dispute: both sides' claims, the provider's evidence (loads live) beside the thread, the decision."""
    return _dispute_page(deposit_id)


def _case(deposit_id: int):
    case = dispute_threads.for_ops(deposit_id)
    if case is None:
        raise NotFound(str(_l("No such dispute.")))
    return case


@bp.get("/disputes/<int:deposit_id>/thread")
@varies_on_htmx
def dispute_thread(deposit_id: int):
    """The thread alone (HTMX poll): 204 while unchanged."""
    case = _case(deposit_id)
    if not is_htmx():
        return redirect(url_for("admin.dispute_show", deposit_id=deposit_id))
    view = dispute_threads.view_of(case, "ops")
    if request.args.get("v") == view.version:
        return "", 204
    return render_template("disputes/_thread.html", case=case, entries=view.entries, version=view.version,
                           viewer="ops", file_endpoint="admin.dispute_file", live=view.live,
                           thread_url=url_for("admin.dispute_thread", deposit_id=deposit_id))


@bp.post("/disputes/<int:deposit_id>/messages")
@rate_limited
def dispute_message(deposit_id: int):
    """Ops write in the thread (as Support), with a file if they like."""
    case = _case(deposit_id)
    form = MessageForm(prefix="msg")
    if form.validate_on_submit():
        try:
            dispute_threads.post(case, author=current_user, role="ops", body=form.body.data,
                                 upload=form.upload_bytes(), request_key=form.request_key.data)
        except DomainError as exc:
            db.session.rollback()
            form.file.errors = [*form.file.errors, exc.message]
        else:
            db.session.commit()
            return redirect(url_for("admin.dispute_show", deposit_id=deposit_id), 303)
    return _dispute_page(deposit_id, message_form=form, status=422)


@bp.get("/disputes/<int:deposit_id>/files/<token>")
def dispute_file(deposit_id: int, token: str):
    """A file of the thread, for ops: an attachment, nosniff, a CSP that allows nothing."""
    file = dispute_threads.download(_case(deposit_id), token)
    return file_response(file.data, file.content_type, file.filename)


serves_files(bp, dispute_file)


@bp.get("/disputes/<int:deposit_id>/evidence")
@lookup_limited
def dispute_evidence(deposit_id: int):
    """What the seller's provider says about the invoice right now (fetched live; an HTMX fragment)."""
    evidence = disputes.fetch_evidence(deposit_id)
    deposit = disputes.get(deposit_id)
    return render_template("admin/_dispute_evidence.html", evidence=evidence, deposit=deposit,
                           clear_cut=evidence.clear_cut_paid(deposit))


@bp.post("/disputes/<int:deposit_id>/resolve")
@rate_limited
def dispute_resolve(deposit_id: int):
    """Settle or reject a dispute, with a reason (written to the audit log)."""
    form = ResolveForm()
    if form.validate_on_submit():
        try:
            outcome = disputes.resolve(deposit_id, confirm=form.decision.data == "confirm", actor=current_user,
                                       reason=form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            form.reason.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("Settled: the buyer has the dollars.") if outcome == "settled"
                  else _("Rejected: the seller's dollars are released."), "success")
            return redirect(url_for("admin.disputes_index")), 303
    return _dispute_page(deposit_id, form=form, status=422)
