"""Error pages in both languages; HTMX requests get a fragment, JSON clients JSON.

No error ever shows a stack trace or a secret: a 500 shows a reference the
operator can find in the logs.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, g, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.errors import DomainError
from app.extensions import db
from app.web.htmx import is_htmx

log = logging.getLogger(__name__)


def _titles():
    return {
        400: _("Bad request"),
        401: _("Please sign in"),
        403: _("Access denied"),
        404: _("Page not found"),
        405: _("Method not allowed"),
        409: _("Conflict"),
        413: _("Request too large"),
        422: _("Cannot do that"),
        429: _("Too many requests"),
        500: _("Something went wrong"),
        503: _("Temporarily unavailable"),
    }


def _explanations():
    return {
        400: _("The request could not be understood. Go back and try again."),
        401: _("Sign in to continue."),
        403: _("You do not have access to this page."),
        404: _("There is nothing at this address."),
        405: _("This address does not accept that kind of request."),
        413: _("The request is larger than we accept."),
        429: _("Too many attempts in a short time. Wait a minute and try again."),
        500: _("Our fault. The error has been logged; please try again later."),
        503: _("The service is briefly unavailable. Please try again in a moment."),
    }


def render_error(status: int, detail: str | None = None):
    title = _titles().get(status, _("Error"))
    message = detail or _explanations().get(status, "")
    if request.accept_mimetypes.best == "application/json" and not is_htmx():
        return {"error": title, "detail": message}, status
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    body = render_template(template, status=status, title=title, message=message, ref=g.get("request_id"))
    headers = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"} if is_htmx() else {}
    return body, status, headers


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return render_error(400, _("The form has expired or was not sent from this site. Reload the page and try again."))

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        db.session.rollback()
        return render_error(exc.status_code, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        detail = None
        if exc.code == 403 and exc.description == "two_factor_required":
            detail = _("This area requires two-factor authentication. Enable it in your account settings and sign in again.")
        elif exc.code == 429:
            detail = _("Too many attempts in a short time. Wait a minute and try again.")
        return render_error(exc.code or 500, detail)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        db.session.rollback()
        if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
            # The server dropped the connection under this request (restart, failover): the pool
            # reconnects, and the request is worth repeating in a moment (a write cut off before its
            # COMMIT was rolled back; each business event is idempotent, so a repeat is safe anyway).
            log.warning("database connection lost during request %s", g.get("request_id"))
            try:
                response = make_response(render_error(503))
            except Exception:  # noqa: BLE001 - the page needs the database too (the menu reads the user)
                response = make_response("503 Service Unavailable", 503,
                                         {"Content-Type": "text/plain; charset=utf-8"})
            response.headers["Retry-After"] = "1"
            return response
        log.exception("unhandled error (request %s)", g.get("request_id"))
        try:
            return render_error(500)
        except Exception:  # noqa: BLE001 - the error page itself failed: answer plainly
            log.exception("error page failed (request %s)", g.get("request_id"))
            return "500 Internal Server Error", 500, {"Content-Type": "text/plain; charset=utf-8"}
