"""Ops: the room desk — unmatched transfers, the manual connector's queue, statements, reconciliation."""
from __future__ import annotations

from datetime import UTC

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateTimeLocalField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app.errors import DomainError
from app.extensions import db
from app.money import format_usd
from app.room import cashouts, room_ingest, room_ops, statements
from app.web.admin.blueprint import bp, section
from app.web.admin.money_forms import ButtonForm, ReasonForm, rate_limited, reason_field
from app.web.forms import AmountField
from app.web.svg_lines import line_chart

section("room_index", _l("Room"))


class AssignForm(ReasonForm):
    user = StringField(_l("User (e-mail, id or room account)"), validators=[DataRequired(), Length(max=254)])


class ConfirmCashOutForm(ReasonForm):
    room_transfer_id = StringField(_l("The room's transfer id"), validators=[DataRequired(), Length(max=128)])


class EnterIncomingForm(FlaskForm):
    room_transfer_id = StringField(_l("The room's transfer id"), validators=[DataRequired(), Length(max=128)])
    counterparty = StringField(_l("Sender (as the room shows it)"), validators=[DataRequired(), Length(max=254)])
    amount = AmountField(_l("Dollars"))
    occurred_at = DateTimeLocalField(_l("When (UTC)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    note = StringField(_l("Note in the room"), validators=[Optional(), Length(max=255)])
    reason = reason_field()


class StatementForm(FlaskForm):
    statement = FileField(_l("Statement (CSV exported from the room)"),
                          validators=[FileRequired(message=_l("Choose a file."))])


def _page(status: int = 200, **forms):
    context = {
        "unmatched": room_ops.unmatched(), "resolved": room_ops.recently_resolved(),
        "cash_outs": cashouts.pending_for_ops(), "action_form": ReasonForm(),
        "enter_form": forms.get("enter_form") or EnterIncomingForm(prefix="in"),
        "statement_form": forms.get("statement_form") or StatementForm(prefix="st"),
        "statement_errors": forms.get("statement_errors") or [],
    }
    return render_template("admin/room.html", **context), status


def _back():
    return redirect(url_for("admin.room_index")), 303


def _run(action, success: str):
    """Call a service action; commit and say so, or roll back and show its message."""
    try:
        action()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _back()
    db.session.commit()
    flash(success, "success")
    return _back()


@bp.get("/room")
def room_index():
    """Unmatched incoming transfers, cash-outs waiting for ops, entering transfers and statements."""
    return _page()


@bp.post("/room/unmatched/<int:transfer_id>/assign")
@rate_limited
def room_assign(transfer_id: int):
    """Credit an unmatched transfer to a user (exactly once)."""
    form = AssignForm()
    if not form.validate_on_submit():
        flash(_("Name the user and give a reason."), "danger")
        return _back()
    return _run(lambda: room_ops.assign(transfer_id, form.user.data, actor=current_user, reason=form.reason.data),
                _("Credited to the user."))


@bp.post("/room/unmatched/<int:transfer_id>/return")
@rate_limited
def room_return(transfer_id: int):
    """Record that an unmatched transfer was sent back to its sender."""
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("A reason is required."), "danger")
        return _back()
    return _run(lambda: room_ingest.mark_returned(transfer_id, actor=current_user, reason=form.reason.data),
                _("Marked as returned."))


@bp.post("/room/cash-outs/<int:cash_out_id>/confirm")
@rate_limited
def room_cash_out_confirm(cash_out_id: int):
    """Ops sent a cash-out through the room themselves: record the room's transfer id."""
    form = ConfirmCashOutForm()
    if not form.validate_on_submit():
        flash(_("Give the room's transfer id and a reason."), "danger")
        return _back()
    return _run(lambda: cashouts.confirm_by_hand(cash_out_id, form.room_transfer_id.data, actor=current_user,
                                                 reason=form.reason.data),
                _("The cash-out is recorded as sent."))


@bp.post("/room/cash-outs/<int:cash_out_id>/fail")
@rate_limited
def room_cash_out_fail(cash_out_id: int):
    """Ops could not send a cash-out: the dollars go back to the user's wallet."""
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("A reason is required."), "danger")
        return _back()
    return _run(lambda: cashouts.fail_by_hand(cash_out_id, actor=current_user, reason=form.reason.data),
                _("The cash-out failed; the dollars are back in the wallet."))


@bp.post("/room/incoming")
@rate_limited
def room_enter_incoming():
    """Enter an incoming transfer seen in the room (manual connector); credited like any other, once."""
    form = EnterIncomingForm(prefix="in")
    if form.validate_on_submit():
        try:
            outcome = room_ingest.record_by_hand(
                room_transfer_id=form.room_transfer_id.data, counterparty=form.counterparty.data,
                amount=form.amount.minor, occurred_at=form.occurred_at.data.replace(tzinfo=UTC),
                note=form.note.data or None, actor=current_user, reason=form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            form.room_transfer_id.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("Credited to the sender.") if outcome == "credited"
                  else _("Recorded; the sender is unknown, so it waits in the unmatched list."), "success")
            return _back()
    return _page(422, enter_form=form)


@bp.post("/room/statement")
@rate_limited
def room_statement():
    """Upload the room's exported history: imported whole or not at all; nothing is credited twice."""
    form = StatementForm(prefix="st")
    if form.validate_on_submit():
        upload = form.statement.data
        try:
            counts = statements.import_statement(upload.read(statements.MAX_STATEMENT_BYTES + 1),
                                                 filename=upload.filename or "", actor=current_user)
        except statements.StatementRejected as exc:
            db.session.rollback()
            form.statement.errors.append(exc.message)
            return _page(422, statement_form=form, statement_errors=exc.errors[:50])
        except DomainError as exc:
            db.session.rollback()
            form.statement.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("Statement imported: %(rows)d rows, %(credited)d credited, %(unmatched)d unmatched.",
                    rows=counts["rows"], credited=counts["credited"], unmatched=counts["unmatched"]), "success")
            return _back()
    return _page(422, statement_form=form)


@bp.get("/room/reconciliation")
def room_reconciliation():
    """The ledger against the room's balance over time, and the latest difference."""
    runs = room_ops.reconciliation_history()
    chart = line_chart([
        (_("Ledger"), "line-ledger", [r.ledger_balance for r in runs]),
        (_("Room"), "line-room", [r.room_balance for r in runs]),
        (_("Difference"), "line-diff", [r.difference for r in runs]),
    ])
    return render_template("admin/reconciliation.html", runs=runs[::-1], chart=chart, action_form=ButtonForm())


@bp.post("/room/reconciliation")
@rate_limited
def room_reconcile_now():
    """Run a reconciliation now."""
    if not ButtonForm().validate_on_submit():
        return redirect(url_for("admin.room_reconciliation")), 303
    run = room_ops.run_reconciliation(actor=current_user)
    db.session.commit()
    if run.difference:
        flash(_("Reconciled: a difference of %(diff)s.", diff=format_usd(abs(run.difference))), "danger")
    else:
        flash(_("Reconciled."), "success")
    return redirect(url_for("admin.room_reconciliation")), 303

