"""Request hooks: loading the user, the input and access guards, headers."""
from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from flask import Flask, g, redirect, request, url_for
from flask_babel import get_locale
from flask_login import current_user

from app.extensions import db, login_manager
from app.models import User
from app.web.access import require_login_unless_public
from app.web.htmx import is_htmx
from app.web.input_guard import reject_invalid_text
from app.web.navigation import nav_items

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


#: built once: every signed-in request runs it
_USER_BY_SESSION = sa.select(User).where(User.id == sa.bindparam("pk"), User.session_token == sa.bindparam("token"))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # The id is "<pk>:<session token>": a token changed by logout or a password change
    # makes every older cookie worthless.
    pk, _sep, token = user_id.partition(":")
    if not pk.isdigit() or not token:
        return None
    return db.session.scalar(_USER_BY_SESSION, {"pk": int(pk), "token": token})


@login_manager.unauthorized_handler
def unauthorized():
    login_url = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if is_htmx():
        # Never swap a login page into a fragment: tell htmx to navigate.
        return "", 401, {"HX-Redirect": login_url}
    if request.accept_mimetypes.best == "application/json":
        return {"error": "login_required"}, 401
    return redirect(login_url)


def register(app: Flask) -> None:
    login_manager.login_message = None  # the login page explains itself

    def _request_id():
        given = request.headers.get("X-Request-ID", "")
        # Accept a proxy's id only if it is plain (it ends up in logs and job metadata).
        g.request_id = given if _REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex

    # Ahead of the extensions' hooks: CSRF parses the form, which would use up the raw body the input
    # guard checks (and the notification endpoint verifies), and bad text is refused before anything
    # reads it (the login redirect would carry it on in ?next=).
    app.before_request_funcs.setdefault(None, [])[:0] = [_request_id, reject_invalid_text]
    app.before_request(require_login_unless_public)

    @app.after_request
    def _headers(response):
        response.vary.add("HX-Request")
        response.vary.add("HX-Boosted")
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("Cache-Control", "no-store" if current_user.is_authenticated else "no-cache")
        return response

    @app.context_processor
    def _globals():
        return {"is_htmx": is_htmx(), "nav_items": nav_items, "get_locale": get_locale}

    @app.route("/favicon.ico")
    def favicon():
        """The icon, from the static folder."""
        return redirect(url_for("static", filename="favicon.svg"), code=301)

    from app.web.access import public

    public(favicon)
