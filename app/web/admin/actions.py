"""What every state-changing form of the ops area shares: a required reason, a rate limit."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from app.extensions import limiter

REASON_MAX = 500


def reason_field(label=None) -> TextAreaField:
    """The reason an action is audited with: required, a few words at least."""
    return TextAreaField(label or _l("Reason (kept in the audit log)"),
                         validators=[DataRequired(message=_l("Give a reason.")), Length(min=3, max=REASON_MAX)],
                         render_kw={"rows": 2, "maxlength": REASON_MAX})


class ReasonForm(FlaskForm):
    """A form whose action is audited with the reason the person gives."""

    reason = reason_field()


def _action_limit() -> str:
    return current_app.config["ADMIN_ACTION_RATE_LIMIT"]


def per_person() -> str:
    # Counted per staff member (all their admin actions together), not per address.
    return f"staff:{current_user.id}" if current_user.is_authenticated else get_remote_address()


#: on every state-changing view of the ops area: one budget shared by all of them
action_rate_limit = limiter.shared_limit(_action_limit, scope="admin-actions", key_func=per_person, methods=["POST"])
