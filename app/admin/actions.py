"""What every state-changing form of the ops area shares: a required reason, a rate limit."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from app.extensions import limiter

REASON_MAX = 500


class ReasonForm(FlaskForm):
    """A form whose action is audited with the reason the person gives."""

    reason = TextAreaField(_l("Reason (kept in the audit log)"),
                           validators=[DataRequired(message=_l("Give a reason.")), Length(min=3, max=REASON_MAX)],
                           render_kw={"rows": 2, "maxlength": REASON_MAX})


def _action_limit() -> str:
    return current_app.config.get("ADMIN_ACTION_RATE_LIMIT", "30 per minute")


#: on every state-changing view of the ops area
action_rate_limit = limiter.limit(_action_limit, methods=["POST"])
