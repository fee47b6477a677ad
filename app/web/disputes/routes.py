"""Views of a dispute for its buyer and its seller: the case, the live thread, a message, a file.

Every view first finds the case *as this user's* (:func:`dispute_threads.for_party`):
anyone but the two parties gets a 404, whatever the id.  Ops work disputes in the
ops area (app/web/admin/disputes_routes.py), behind its role and second-factor guard.
"""
from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user

from app.errors import DomainError
from app.extensions import db, limiter
from app.market import dispute_threads
from app.operations import disputes
from app.web.disputes.blueprint import bp
from app.web.disputes.forms import MessageForm
from app.web.file_downloads import file_response, serves_files
from app.web.htmx import is_htmx, varies_on_htmx
from app.web.rate_limits import user_or_address


def _page(case, role: str, form: MessageForm, status: int = 200):
    view = dispute_threads.view_of(case, role)
    return render_template("disputes/show.html", view=view, case=case, role=role, deposit=view.deposit, form=form,
                           entries=view.entries, version=view.version, may_post=view.may_post,
                           decision=disputes.decision_of(view.deposit), file_endpoint="disputes.download",
                           thread_url=url_for("disputes.thread", deposit_id=case.deposit_id)), status


@bp.get("/<int:deposit_id>")
def show(deposit_id: int):
    """The dispute as a party sees it: the deadline, the decision once made, the thread and the form."""
    case, role = dispute_threads.for_party(current_user, deposit_id)
    return _page(case, role, MessageForm(prefix="msg"))


@bp.get("/<int:deposit_id>/thread")
@varies_on_htmx
def thread(deposit_id: int):
    """The thread alone (HTMX, every few seconds): 204 while nothing it shows has changed."""
    case, role = dispute_threads.for_party(current_user, deposit_id)
    if not is_htmx():
        return redirect(url_for("disputes.show", deposit_id=deposit_id))
    view = dispute_threads.view_of(case, role)
    if request.args.get("v") == view.version:
        return "", 204
    return render_template("disputes/_thread.html", case=case, entries=view.entries, version=view.version,
                           file_endpoint="disputes.download", viewer=role, live=view.live,
                           thread_url=url_for("disputes.thread", deposit_id=deposit_id))


def _message_limit() -> str:
    return current_app.config["DISPUTE_MESSAGE_RATE_LIMIT"]


@bp.post("/<int:deposit_id>/messages")
@limiter.limit(_message_limit, key_func=user_or_address)
def post_message(deposit_id: int):
    """A message from the buyer or the seller (multipart: text and/or a file); a bad file is a form error."""
    case, role = dispute_threads.for_party(current_user, deposit_id)
    form = MessageForm(prefix="msg")
    if form.validate_on_submit():
        try:
            dispute_threads.post(case, author=current_user, role=role, body=form.body.data,
                                 upload=form.upload_bytes(), request_key=form.request_key.data)
        except DomainError as exc:
            db.session.rollback()
            form.file.errors = [*form.file.errors, exc.message]
        else:
            db.session.commit()
            return redirect(url_for("disputes.show", deposit_id=deposit_id), 303)
    return _page(case, role, form, 422)


@bp.get("/<int:deposit_id>/files/<token>")
def download(deposit_id: int, token: str):
    """A file of the thread, to the parties only; always as an attachment, never rendered by the browser."""
    case, _role = dispute_threads.for_party(current_user, deposit_id)
    file = dispute_threads.download(case, token)
    return file_response(file.data, file.content_type, file.filename)


serves_files(bp, download)
