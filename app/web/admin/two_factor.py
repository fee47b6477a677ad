"""Staff without the second factor get a page that tells them how to get in, not a bare 403."""
from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import Forbidden

from app.web.admin.blueprint import bp
from app.web.error_pages import render_error
from app.web.htmx import is_htmx


@bp.errorhandler(Forbidden)
def forbidden(exc: Forbidden):
    """Ops/admin without 2FA in this session: explain and link to the set-up page; others: the usual 403."""
    needs_2fa = exc.description == "two_factor_required"
    if needs_2fa and current_user.is_authenticated and not is_htmx():
        return render_template("admin/two_factor_required.html", enrolled=current_user.totp_enabled), 403
    detail = None
    if needs_2fa:
        detail = _("This area requires two-factor authentication. Enable it in your account settings and sign in again.")
    return render_error(403, detail)
