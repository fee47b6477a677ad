"""Ops: payment exceptions — money sellers received beyond an invoice, and how each was made good."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import RadioField
from wtforms.validators import InputRequired

from app.errors import DomainError
from app.extensions import db
from app.market import payment_exceptions
from app.web.admin.blueprint import bp, section
from app.web.admin.money_forms import ReasonForm, rate_limited, reason_field
from app.web.labels import PAYMENT_EXCEPTION_REASON, PAYMENT_EXCEPTION_RESOLUTION

section("payment_exceptions_index", _l("Payment exceptions"))

STATUSES = ("open", "resolved", "all")


class ResolveExceptionForm(ReasonForm):
    resolution = RadioField(_l("How was it made good?"),
                            choices=list(PAYMENT_EXCEPTION_RESOLUTION.items()),
                            validators=[InputRequired(message=_l("Choose how it was resolved."))])
    reason = reason_field()


def _page(form: ResolveExceptionForm, status: str, failed_id: int | None = None, error: str | None = None):
    return render_template("admin/payment_exceptions.html", items=payment_exceptions.listing(status=status),
                           status=status, statuses=STATUSES, form=form, failed_id=failed_id, error=error,
                           reason_labels=PAYMENT_EXCEPTION_REASON, resolution_labels=PAYMENT_EXCEPTION_RESOLUTION)


@bp.get("/payment-exceptions")
def payment_exceptions_index():
    """Payments beyond an invoice, oldest first: amounts, deposit, buyer, seller, provider, time."""
    status = request.args.get("status", "open")
    if status not in STATUSES:
        status = "open"
    return _page(ResolveExceptionForm(), status)


@bp.post("/payment-exceptions/<int:exception_id>/resolve")
@rate_limited
def payment_exception_resolve(exception_id: int):
    """Close one exception with how it was made good and a reason (audited; at most once)."""
    form = ResolveExceptionForm()
    error = None
    if form.validate_on_submit():
        try:
            payment_exceptions.resolve(exception_id, resolution=form.resolution.data, note=form.reason.data,
                                       actor=current_user)
        except DomainError as exc:
            db.session.rollback()
            if exc.status_code == 404:
                raise
            error = exc.message
        else:
            db.session.commit()
            flash(_("The payment exception is resolved."), "success")
            return redirect(url_for("admin.payment_exceptions_index")), 303
    return _page(form, "open", failed_id=exception_id, error=error), 422
