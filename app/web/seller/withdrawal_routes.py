"""Withdrawal requests: put dollars up for sale, pause, resume, cancel, watch them fill."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, SubmitField
from wtforms.validators import DataRequired, NumberRange

from app.core.settings import current_settings
from app.errors import DomainError
from app.extensions import db
from app.market import payment_forms, queue_view, withdrawals
from app.money import parse_amount
from app.web.forms import AmountField, CountField, RequestKeyField
from app.web.htmx import is_htmx
from app.web.seller.blueprint import bp
from app.web.wallet import wallet_view


class WithdrawalForm(FlaskForm):
    payment_form = SelectField(_l("API form"), coerce=int, validate_choice=True)
    amount = AmountField(_l("Dollars to sell, $"))
    min_invoice = AmountField(_l("Smallest invoice, ₽"))
    max_invoice = AmountField(_l("Largest invoice, ₽"))
    max_open_invoices = CountField(_l("Invoices open at once"), default=3,
                                     validators=[DataRequired(), NumberRange(min=1, max=50)])
    request_key = RequestKeyField()
    submit = SubmitField(_l("Put up for sale"))


class ActionForm(FlaskForm):
    """Just the CSRF token for the pause / resume / cancel buttons."""


def _form() -> WithdrawalForm:
    form = WithdrawalForm(prefix="wr")
    form.payment_form.choices = [(f.id, f"{f.name} ({f.display})") for f in payment_forms.own_forms(current_user)
                                 if f.healthy]
    return form


@bp.route("/withdrawals", methods=["GET", "POST"])
def withdrawals_index():
    """The seller's requests with live progress, and the form to put up a new one."""
    form = _form()
    if form.validate_on_submit():
        try:
            withdrawals.create(
                current_user, payment_form_id=form.payment_form.data, amount=form.amount.minor,
                min_invoice_kopecks=form.min_invoice.minor, max_invoice_kopecks=form.max_invoice.minor,
                max_open_invoices=form.max_open_invoices.data, request_key=form.request_key.data,
            )
        except DomainError as exc:
            db.session.rollback()
            form.amount.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("Your dollars are in the queue."), "success")
            return redirect(url_for("seller.withdrawals_index"))
    requests = withdrawals.own_requests(current_user)
    rows = [(r, withdrawals.progress(r)) for r in requests]
    template = "seller/_withdrawals.html" if is_htmx() else "seller/withdrawals.html"
    settings = current_settings()
    # after a refused submit the quote under the amount still says what the typed request would bring
    outlook = _outlook(request.form.get("wr-payment_form"), request.form.get("wr-amount"), settings)
    status = 422 if form.errors else 200
    return render_template(template, form=form, rows=rows, action_form=ActionForm(),
                           outlooks=queue_view.seller_outlooks(rows, settings), outlook=outlook,
                           usd_cents=form.amount.minor, wallet=wallet_view.summary(current_user),
                           kyc_threshold=settings.kyc_threshold_cents), status


def _outlook(form_id: str | None, amount: str | None, settings) -> queue_view.SellerOutlook | None:
    """The outlook of a request for ``amount`` dollars on one of the seller's working forms; None if unclear."""
    try:
        usd_cents, form_id = parse_amount(amount or ""), int(form_id or "")
    except ValueError:
        return None
    form = next((f for f in payment_forms.own_forms(current_user) if f.id == form_id and f.healthy), None)
    return queue_view.new_request_outlook(form.kind, usd_cents, settings) if form else None


@bp.get("/withdrawals/quote")
def withdrawal_quote():
    """What the request being typed would bring (HTMX): the rate, the rubles, the place in the queue."""
    amount = request.args.get("wr-amount", "")
    outlook = _outlook(request.args.get("wr-payment_form"), amount, current_settings())
    return render_template("seller/_withdrawal_quote.html", outlook=outlook,
                           usd_cents=parse_amount(amount) if outlook else None)


@bp.post("/withdrawals/<int:request_id>/<action>")
def withdrawal_action(request_id: int, action: str):
    """Pause, resume or cancel one of the seller's requests."""
    handlers = {"pause": withdrawals.pause, "resume": withdrawals.resume, "cancel": withdrawals.cancel}
    if action not in handlers or not ActionForm().validate_on_submit():
        return redirect(url_for("seller.withdrawals_index"))
    handlers[action](current_user, request_id)
    db.session.commit()
    return redirect(url_for("seller.withdrawals_index"))
