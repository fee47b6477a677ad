"""Views of the notification centre: parse, call app.notifications.inbox, commit, render."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.errors import ValidationFailed
from app.extensions import db, limiter
from app.notifications import inbox, texts
from app.web.htmx import is_htmx
from app.web.notifications import bp
from app.web.notifications.forms import ChannelsForm, MarkAllReadForm, MarkReadForm


def _entries(items):
    return [(n, inbox.text_of(n)) for n in items]


@bp.get("/")
def index():
    """The list of the user's notifications, newest first ("show more" pages by id)."""
    before = request.args.get("before", type=int)
    if before is not None and not 0 < before < 2**63:
        before = None  # a cursor no row id can have (a BIGINT overflow would be a 500): the first page
    items = inbox.page_of(current_user.id, before_id=before)
    context = {"entries": _entries(items), "read_form": MarkReadForm(), "all_form": MarkAllReadForm(),
               "more": items[-1].id if len(items) == inbox.PAGE_SIZE else None, "texts": texts}
    if is_htmx() and before is not None:
        return render_template("notifications/_page.html", **context)
    return render_template("notifications/index.html", unread=inbox.unread_count(current_user.id), **context)


@bp.get("/bell")
def bell():
    """The bell with the unread count (polled by the header)."""
    return render_template("notifications/_bell.html", unread=inbox.unread_count(current_user.id))


@bp.post("/<int:notification_id>/read")
def mark_read(notification_id: int):
    """Mark one notification read (and open its page when asked)."""
    form = MarkReadForm()
    if not form.validate_on_submit():
        return redirect(url_for("notifications.index"))
    notification = inbox.mark_read(current_user, notification_id)
    db.session.commit()
    text = inbox.text_of(notification)
    if form.go.data:
        return redirect(texts.target_url(text))
    if is_htmx():
        body = render_template("notifications/_item.html", n=notification, text=text, read_form=MarkReadForm(),
                               texts=texts)
        return body, 200, {"HX-Trigger": "notifications-changed"}
    return redirect(url_for("notifications.index"))


@bp.post("/read-all")
def mark_all_read():
    """Mark every notification read."""
    if MarkAllReadForm().validate_on_submit():
        inbox.mark_all_read(current_user)
        db.session.commit()
    return redirect(url_for("notifications.index"))


@bp.route("/settings", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def settings():
    """Where notifications go besides this page: e-mail, Telegram."""
    current = inbox.settings_of(current_user.id)
    form = ChannelsForm(email=current.email_enabled, telegram=current.telegram_enabled,
                        telegram_chat_id=current.telegram_chat_id)
    available = inbox.available_channels()
    status = 200
    if form.validate_on_submit():
        try:
            inbox.save_settings(
                current_user, email_enabled=bool(form.email.data) and "email" in available,
                telegram_enabled=bool(form.telegram.data) and "telegram" in available,
                telegram_chat_id=form.telegram_chat_id.data)
        except ValidationFailed as exc:
            db.session.rollback()
            form.telegram_chat_id.errors.append(exc.message)
            status = 422
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("notifications.settings"))
    elif form.errors:
        status = 422
    return render_template("notifications/settings.html", form=form, available=available), status
