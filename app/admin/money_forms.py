"""Forms and helpers shared by the money parts of the ops area (queue, disputes, room, ledger).

Every state-changing form here asks for a reason (it goes to the audit log)
and carries the CSRF token; every state-changing post is rate-limited per
signed-in person (:data:`ACTION_LIMIT`).
"""
from __future__ import annotations

from flask import abort, current_app, request
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.admin import bp
from app.extensions import limiter

#: the largest row id either engine stores (BIGINT); a larger number in a URL names nothing
MAX_ROW_ID = 2**63 - 1

#: state-changing posts per ops user (``ADMIN_ACTION_RATE_LIMIT`` overrides it)
ACTION_LIMIT = "60 per minute"
REASON_MAX = 1000


def _actor_key() -> str:
    if current_user.is_authenticated:
        return f"admin-user:{current_user.id}"
    return get_remote_address()


@bp.url_value_preprocessor
def _ids_in_range(endpoint, values):
    """A row id too big for the database is a 404, not an overflow error deep in the driver."""
    for value in (values or {}).values():
        if isinstance(value, int) and value > MAX_ROW_ID:
            abort(404)


def _action_limit() -> str:
    return current_app.config.get("ADMIN_ACTION_RATE_LIMIT", ACTION_LIMIT)


def rate_limited(view):
    """Limit a view's POSTs per signed-in person (anonymous callers by address)."""
    return limiter.limit(_action_limit, methods=["POST"], key_func=_actor_key)(view)


#: live provider look-ups per ops user (each is a call with a seller's credentials)
LOOKUP_LIMIT = "30 per minute"


def lookup_limited(view):
    """Limit a view that calls out to a provider, per signed-in person."""
    return limiter.limit(LOOKUP_LIMIT, key_func=_actor_key)(view)


def reason_field(label=None) -> TextAreaField:
    return TextAreaField(label or _l("Reason (goes to the audit log)"),
                         validators=[DataRequired(message=_l("A reason is required.")), Length(max=REASON_MAX)],
                         render_kw={"rows": 2})


class ButtonForm(FlaskForm):
    """Just the CSRF token, for a button that needs no input."""


class ReasonForm(FlaskForm):
    """A button that changes something, with the reason the audit log keeps."""

    reason = reason_field()


class SearchForm(FlaskForm):
    """Base of the GET search forms: no CSRF (they change nothing), values from the query string."""

    class Meta:
        csrf = False


def page_arg() -> int:
    """The ``page`` query argument, 1 when absent or nonsense."""
    try:
        return max(1, min(int(request.args.get("page", "1")), 100_000))
    except ValueError:
        return 1


class TextField(StringField):
    """A trimmed optional text input."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None:
            self.data = self.data.strip()
