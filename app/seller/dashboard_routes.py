"""The seller's dashboard: API form health, withdrawal requests with progress, open invoices."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user

from app.seller import bp
from app.seller.withdrawal_routes import ActionForm
from app.services import form_health, payment_forms, withdrawals


@bp.get("/")
def index():
    """The seller's overview: API forms and their health, a paused form's reason first."""
    forms = payment_forms.own_forms(current_user)
    rows = [(r, withdrawals.progress(r)) for r in withdrawals.own_requests(current_user)
            if r.status in ("active", "paused")]
    return render_template("seller/index.html", forms=forms, health_of=form_health.health_of,
                           kind_labels=payment_forms.KIND_LABELS,
                           paused=[f for f in forms if f.circuit == "open"],
                           rows=rows, action_form=ActionForm(),
                           open_invoices=withdrawals.open_invoices_of_seller(current_user))
