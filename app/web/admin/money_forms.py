"""Forms and helpers shared by the money parts of the ops area (queue, disputes, room, ledger).

Every state-changing form here asks for a reason (it goes to the audit log)
and carries the CSRF token; every state-changing post is rate-limited per
signed-in person — the reason form and the limit are the whole area's, from
:mod:`app.web.admin.actions`.
"""
from __future__ import annotations

from flask import abort, request
from flask_wtf import FlaskForm
from wtforms import StringField

from app.extensions import limiter
from app.web.admin.actions import ReasonForm, action_rate_limit, per_person, reason_field  # noqa: F401 (re-exported)
from app.web.admin.blueprint import bp

#: the largest row id either engine stores (BIGINT); a larger number in a URL names nothing
MAX_ROW_ID = 2**63 - 1


@bp.url_value_preprocessor
def _ids_in_range(endpoint, values):
    """A row id too big for the database is a 404, not an overflow error deep in the driver."""
    for value in (values or {}).values():
        if isinstance(value, int) and value > MAX_ROW_ID:
            abort(404)


#: every state-changing post of the ops area shares one per-person budget (app.web.admin.actions)
rate_limited = action_rate_limit


#: live provider look-ups per ops user (each is a call with a seller's credentials)
LOOKUP_LIMIT = "30 per minute"


def lookup_limited(view):
    """Limit a view that calls out to a provider, per signed-in person."""
    return limiter.limit(LOOKUP_LIMIT, key_func=per_person)(view)


class ButtonForm(FlaskForm):
    """Just the CSRF token, for a button that needs no input."""


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
