"""The seller's dashboard (withdrawal requests join it later)."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user

from app.seller import bp
from app.services import form_health, payment_forms


@bp.get("/")
def index():
    """The seller's overview: API forms and their health, a paused form's reason first."""
    forms = payment_forms.own_forms(current_user)
    return render_template("seller/index.html", forms=forms, health_of=form_health.health_of,
                           kind_labels=payment_forms.KIND_LABELS,
                           paused=[f for f in forms if f.circuit == "open"])
