"""Ops: disputes — both sides' claims, the provider's live evidence, and the decision with a reason."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import RadioField
from wtforms.validators import InputRequired

from app.errors import DomainError
from app.extensions import db
from app.operations import disputes
from app.web.admin.blueprint import bp, section
from app.web.admin.money_forms import ReasonForm, lookup_limited, rate_limited, reason_field

section("disputes_index", _l("Disputes"))


class ResolveForm(ReasonForm):
    decision = RadioField(_l("Decision"), choices=[
        ("confirm", _l("The buyer paid: settle (the buyer gets the dollars)")),
        ("reject", _l("Not paid: reject (the seller keeps the dollars)")),
    ], validators=[InputRequired(message=_l("Choose a decision."))])
    reason = reason_field()


@bp.get("/disputes")
def disputes_index():
    """Open disputes, oldest first."""
    return render_template("admin/disputes.html", items=disputes.open_disputes())


@bp.get("/disputes/<int:deposit_id>")
def dispute_show(deposit_id: int):
    """One dispute: the buyer's claim, the platform's record, the decision form; evidence loads live."""
    return render_template("admin/dispute.html", sides=disputes.sides(deposit_id), form=ResolveForm())


@bp.get("/disputes/<int:deposit_id>/evidence")
@lookup_limited
def dispute_evidence(deposit_id: int):
    """What the seller's provider says about the invoice right now (fetched live; an HTMX fragment)."""
    evidence = disputes.fetch_evidence(deposit_id)
    deposit = disputes.get(deposit_id)
    return render_template("admin/_dispute_evidence.html", evidence=evidence, deposit=deposit,
                           clear_cut=evidence.clear_cut_paid(deposit))


@bp.post("/disputes/<int:deposit_id>/resolve")
@rate_limited
def dispute_resolve(deposit_id: int):
    """Settle or reject a dispute, with a reason (written to the audit log)."""
    form = ResolveForm()
    if form.validate_on_submit():
        try:
            outcome = disputes.resolve(deposit_id, confirm=form.decision.data == "confirm", actor=current_user,
                                       reason=form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            form.reason.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("Settled: the buyer has the dollars.") if outcome == "settled"
                  else _("Rejected: the seller's dollars are released."), "success")
            return redirect(url_for("admin.disputes_index")), 303
    return render_template("admin/dispute.html", sides=disputes.sides(deposit_id), form=form), 422
