"""Ops: the withdrawal queue with each seller's record (pause / resume a request), and the invoice search."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from app.errors import DomainError
from app.extensions import db
from app.market import form_health, queue_view, withdrawals
from app.market.payment_forms import KIND_LABELS
from app.models.settings import PROVIDER_KINDS
from app.web.admin.blueprint import bp, section
from app.web.admin.money_forms import ReasonForm, SearchForm, TextField, page_arg, rate_limited
from app.web.forms import AmountField
from app.web.htmx import is_htmx
from app.web.labels import DEPOSIT_STATUS

section("queue_index", _l("Queue"))
section("invoices_index", _l("Invoices"))


def _kind_choices():
    return [("", _l("all providers"))] + [(k, KIND_LABELS[k]) for k in PROVIDER_KINDS]


@bp.get("/queue")
def queue_index():
    """The live withdrawal requests in queue order, with each seller's fill rate, speed, disputes and form health."""
    kind = request.args.get("kind") or None
    if kind not in (None, *PROVIDER_KINDS):
        kind = None
    rows = queue_view.queue(kind)
    health = {row.request.id: form_health.health_of(row.request.payment_form) for row in rows}
    template = "admin/_queue_rows.html" if is_htmx() else "admin/queue.html"
    return render_template(template, rows=rows, health=health, kind=kind, kinds=_kind_choices(),
                           action_form=ReasonForm())


@bp.post("/queue/<int:request_id>/<action>")
@rate_limited
def queue_action(request_id: int, action: str):
    """Pause or resume a seller's request, with a reason."""
    handlers = {"pause": withdrawals.pause_by_ops, "resume": withdrawals.resume_by_ops}
    if action not in handlers:
        abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("A reason is required."), "danger")
        return redirect(url_for("admin.queue_index")), 303
    try:
        handlers[action](request_id, actor=current_user, reason=form.reason.data)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("admin.queue_index")), 303
    db.session.commit()
    flash(_("The request is paused.") if action == "pause" else _("The request is back in the queue."), "success")
    return redirect(url_for("admin.queue_index")), 303


class InvoiceSearchForm(SearchForm):
    status = SelectField(_l("State"), validators=[Optional()])
    kind = SelectField(_l("Provider"), validators=[Optional()])
    min_amount = AmountField(_l("From, ₽"), validators=[Optional()])
    max_amount = AmountField(_l("To, ₽"), validators=[Optional()])
    created_from = DateField(_l("Created from"), validators=[Optional()])
    created_to = DateField(_l("Created to"), validators=[Optional()])
    user = TextField(_l("Buyer or seller e-mail"), validators=[Optional()])

    def validate_max_amount(self, field):
        if self.min_amount.minor and field.minor and field.minor < self.min_amount.minor:
            raise ValidationError(_l("The upper bound is below the lower one."))

    def validate_created_to(self, field):
        if self.created_from.data and field.data and field.data < self.created_from.data:
            raise ValidationError(_l("The end date is before the start date."))

    def to_filter(self) -> queue_view.InvoiceFilter:
        def start_of(day):
            return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None

        end = start_of(self.created_to.data)
        return queue_view.InvoiceFilter(
            status=self.status.data or None, kind=self.kind.data or None,
            min_kopecks=self.min_amount.minor, max_kopecks=self.max_amount.minor,
            created_from=start_of(self.created_from.data),
            created_to=end + timedelta(days=1) if end else None,  # the whole "to" day
            user=self.user.data or None,
        )


@bp.get("/invoices")
def invoices_index():
    """Invoices searchable by state, provider, amount, date and user, a page at a time."""
    form = InvoiceSearchForm(request.args)
    form.status.choices = [("", _l("any state"))] + [(k, v) for k, v in DEPOSIT_STATUS.items()]
    form.kind.choices = _kind_choices()
    page, status = None, 200
    if form.validate():
        page = queue_view.search_invoices(form.to_filter(), page_arg())
    else:
        status = 422
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    template = "admin/_invoice_results.html" if is_htmx() else "admin/invoices.html"
    return render_template(template, form=form, page=page, args=args), status
