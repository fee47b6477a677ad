"""Views of the notification centre: parse, call app.notifications.inbox, commit, render."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.extensions import db, limiter
from app.notifications import inbox, telegram_link, texts
from app.web.htmx import is_htmx
from app.web.notifications.blueprint import bp
from app.web.notifications.forms import (
    ChannelsForm,
    ConnectTelegramForm,
    DisconnectTelegramForm,
    MarkAllReadForm,
    MarkReadForm,
)
from app.web.rate_limits import telegram_link_limit, user_or_address


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


def _settings_page(form=None, *, deep_link=None, telegram_error=None, status=200):
    """The channels page; ``deep_link`` is shown only in the answer that made it (the token is not kept)."""
    current = inbox.settings_of(current_user.id)
    if form is None:
        form = ChannelsForm(email=current.email_enabled, telegram=current.telegram_enabled)
    return render_template("notifications/settings.html", form=form, available=inbox.available_channels(),
                           **_telegram_panel(deep_link=deep_link, telegram_error=telegram_error)), status


def _telegram_panel(*, deep_link=None, telegram_error=None, expired=False) -> dict:
    return {"telegram": telegram_link.state_of(current_user.id), "deep_link": deep_link,
            "telegram_error": telegram_error, "link_expired": expired,
            "connect_form": ConnectTelegramForm(), "disconnect_form": DisconnectTelegramForm(),
            "link_minutes": max(1, int(current_app.config.get("TELEGRAM_LINK_TTL", 900)) // 60)}


@bp.route("/settings", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def settings():
    """Where notifications go besides this page: e-mail, Telegram."""
    form = ChannelsForm()
    if form.validate_on_submit():
        available = inbox.available_channels()
        inbox.save_settings(current_user, email_enabled=bool(form.email.data) and "email" in available,
                                    telegram_enabled=bool(form.telegram.data) and "telegram" in available)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("notifications.settings"))
    if request.method == "POST":
        return _settings_page(form, status=422)
    return _settings_page()


@bp.post("/telegram/connect")
@limiter.limit(telegram_link_limit, key_func=user_or_address)
def connect_telegram():
    """Make a one-time link to the bot; the page then waits (polling) for the Start in Telegram."""
    if not ConnectTelegramForm().validate_on_submit():
        return _settings_page(telegram_error=_("The form has expired. Press the button again."), status=422)
    try:
        link = telegram_link.start_link(current_user)
    except telegram_link.TelegramUnavailable as exc:
        db.session.rollback()
        return _settings_page(telegram_error=exc.message, status=422)
    db.session.commit()
    return _settings_page(deep_link=link.url)


@bp.get("/telegram/status")
def telegram_status():
    """Polled while the page waits for the Start: 204 while still waiting, the panel once linked or expired."""
    if not is_htmx():
        return redirect(url_for("notifications.settings"))
    state = telegram_link.state_of(current_user.id)
    if state.chat_id is None and state.waiting:
        return "", 204
    return render_template("notifications/_telegram.html", available=inbox.available_channels(),
                           **_telegram_panel(expired=state.chat_id is None))


@bp.post("/telegram/disconnect")
@limiter.limit("20 per minute")
def disconnect_telegram():
    """Forget the linked chat: nothing more is sent there."""
    if DisconnectTelegramForm().validate_on_submit():
        if telegram_link.unlink(current_user):
            flash(_("Telegram is disconnected."), "success")
        db.session.commit()
    return redirect(url_for("notifications.settings"))
