"""Ops: the ledger — account explorer, transfer search, and manual adjustments with four eyes."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.errors import DomainError, NotFound
from app.extensions import db
from app.ledger.models import AccountKind
from app.models import Role
from app.operations import adjustments, ledger_explorer
from app.web.access import roles_required
from app.web.admin.blueprint import bp, section
from app.web.admin.money_forms import (
    MAX_ROW_ID,
    ReasonForm,
    SearchForm,
    TextField,
    page_arg,
    rate_limited,
    reason_field,
)
from app.web.forms import AmountField, RequestKeyField, RowIdField
from app.web.labels import ACCOUNT_KIND

section("ledger_index", _l("Ledger"))


class AccountSearchForm(SearchForm):
    owner = TextField(_l("Owner (e-mail or id)"), validators=[Optional(), Length(max=254)])
    kind = SelectField(_l("Kind"), validators=[Optional()],
                       choices=[("", _l("any kind"))] + [(k.value, ACCOUNT_KIND[k.value]) for k in AccountKind])
    code = TextField(_l("Code contains"), validators=[Optional(), Length(max=128)])


class TransferSearchForm(SearchForm):
    account = RowIdField(_l("Account id"), validators=[Optional(), NumberRange(min=1, max=MAX_ROW_ID)])
    kind = TextField(_l("Kind"), validators=[Optional(), Length(max=32)])
    text = TextField(_l("Key, event or memo contains"), validators=[Optional(), Length(max=128)])
    min_amount = AmountField(_l("From, $"), validators=[Optional()])
    max_amount = AmountField(_l("To, $"), validators=[Optional()])


class AdjustmentForm(FlaskForm):
    account = RowIdField(_l("Account id"), validators=[InputRequired(), NumberRange(min=1, max=MAX_ROW_ID)])
    direction = RadioField(_l("The account"), choices=[("credit", _l("gains the amount")),
                                                       ("debit", _l("loses the amount"))],
                           validators=[InputRequired(message=_l("Choose a direction."))])
    amount = AmountField(_l("Amount, $"))
    reason = reason_field()
    request_key = RequestKeyField()


class ApproveForm(FlaskForm):
    reason = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=1000)])


def _args() -> dict:
    return {k: v for k, v in request.args.items() if k != "page" and v}


@bp.get("/ledger")
def ledger_index():
    """Accounts with their balances, filtered by owner, kind or code."""
    form = AccountSearchForm(request.args)
    page = None
    if form.validate():
        page = ledger_explorer.accounts(owner=form.owner.data or None, kind=form.kind.data or None,
                                        code=form.code.data or None, page=page_arg())
    return render_template("admin/ledger.html", form=form, page=page, args=_args()), 200 if page else 422


@bp.get("/ledger/accounts/<int:account_id>")
def ledger_account(account_id: int):
    """One account: its balance and its transfers."""
    row = ledger_explorer.account(account_id)
    if row is None:
        raise NotFound(_("No such ledger account."))
    page = ledger_explorer.transfers(account_id=account_id, page=page_arg())
    codes = ledger_explorer.account_codes({t.debit_account_id for t in page.items} | {t.credit_account_id for t in page.items})
    return render_template("admin/ledger_account.html", row=row, page=page, codes=codes, args={"account_id": account_id})


@bp.get("/ledger/transfers")
def ledger_transfers():
    """Transfers by account, kind, key / event / memo text and amount."""
    form = TransferSearchForm(request.args)
    page, codes = None, {}
    if form.validate():
        page = ledger_explorer.transfers(account_id=form.account.data, kind=form.kind.data or None,
                                         text=form.text.data or None, min_amount=form.min_amount.minor,
                                         max_amount=form.max_amount.minor, page=page_arg())
        codes = ledger_explorer.account_codes({t.debit_account_id for t in page.items}
                                              | {t.credit_account_id for t in page.items})
    return render_template("admin/ledger_transfers.html", form=form, page=page, codes=codes,
                           args=_args()), 200 if page else 422


def _adjustments_page(form: AdjustmentForm, status: int = 200):
    items = adjustments.listing()
    codes = ledger_explorer.account_codes({a.debit_account_id for a in items} | {a.credit_account_id for a in items})
    return render_template("admin/adjustments.html", form=form, items=items, codes=codes,
                           approve_form=ApproveForm(), reject_form=ReasonForm()), status


@bp.route("/ledger/adjustments", methods=["GET", "POST"])
@rate_limited
def ledger_adjustments():
    """Ask for a manual adjustment (moves nothing until a second person, an admin, approves)."""
    form = AdjustmentForm(prefix="adj")
    if form.validate_on_submit():
        try:
            adjustments.request_adjustment(account_id=form.account.data, direction=form.direction.data,
                                           amount=form.amount.minor, reason=form.reason.data, actor=current_user,
                                           request_key=form.request_key.data)
        except DomainError as exc:
            db.session.rollback()
            form.account.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("Adjustment requested; it takes effect once another admin approves it."), "success")
            return redirect(url_for("admin.ledger_adjustments")), 303
    return _adjustments_page(form, 422 if form.errors else 200)


def _decide(adjustment_id: int, approve: bool):
    form = ApproveForm() if approve else ReasonForm()
    if not form.validate_on_submit():
        flash(_("A reason is required."), "danger")
        return redirect(url_for("admin.ledger_adjustments")), 303
    try:
        if approve:
            adjustments.approve(adjustment_id, actor=current_user, reason=form.reason.data)
        else:
            adjustments.reject(adjustment_id, actor=current_user, reason=form.reason.data)
    except DomainError as exc:
        db.session.rollback()
        if exc.status_code == 403:
            raise
        flash(exc.message, "danger")
        return redirect(url_for("admin.ledger_adjustments")), 303
    db.session.commit()
    flash(_("Approved and posted.") if approve else _("Rejected; nothing was posted."), "success")
    return redirect(url_for("admin.ledger_adjustments")), 303


@bp.post("/ledger/adjustments/<int:adjustment_id>/approve")
@roles_required(Role.ADMIN, mfa=True)
@rate_limited
def ledger_adjustment_approve(adjustment_id: int):
    """An admin other than the requester approves: the transfer is posted, once."""
    return _decide(adjustment_id, approve=True)


@bp.post("/ledger/adjustments/<int:adjustment_id>/reject")
@roles_required(Role.ADMIN, mfa=True)
@rate_limited
def ledger_adjustment_reject(adjustment_id: int):
    """An admin other than the requester rejects, with a reason."""
    return _decide(adjustment_id, approve=False)
