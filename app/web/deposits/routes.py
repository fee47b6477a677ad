"""Views of the deposits blueprint: parse, call one service, commit, render."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.settings import current_settings
from app.errors import DomainError
from app.extensions import db, limiter
from app.jobs.invoices import queue_matching
from app.market import invoices, matching, offers, payment_exceptions, quotes
from app.market.payment_forms import KIND_LABELS
from app.money import parse_amount
from app.operations import disputes
from app.web.deposits import bp, polling
from app.web.deposits.forms import DepositForm, DisputeForm
from app.web.htmx import is_htmx, varies_on_htmx


def _form(settings) -> tuple[DepositForm, list]:
    methods = offers.offers(current_user.id, settings)
    form = DepositForm(prefix="dep", offers=methods)
    if request.method == "GET":
        form.kind.data = request.args.get("kind") or (methods[0].kind if methods else None)
        form.amount.data = request.args.get("amount") or form.amount.data
    return form, methods


@bp.route("/", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def new():
    """Choose a method with liquidity, enter rubles, see the quote, confirm."""
    settings = current_settings()
    form, methods = _form(settings)
    quote = None
    if form.validate_on_submit():
        try:
            quote = quotes.quote(form.kind.data, form.amount.minor, settings)
            deposit = matching.create_deposit(current_user, quote, form.request_key.data)
        except DomainError as exc:
            db.session.rollback()
            form.amount.errors.append(exc.message)
        else:
            if deposit.status == "matching":
                queue_matching(deposit.id)
            db.session.commit()
            return redirect(url_for("deposits.show", deposit_id=deposit.id))
    status = 422 if form.errors else 200
    return render_template("deposits/new.html", form=form, methods=methods, settings=settings,
                           labels=KIND_LABELS), status


@bp.get("/quote")
def quote_preview():
    """The quote for what is typed so far (HTMX), without creating anything."""
    settings = current_settings()
    kind, raw = request.args.get("dep-kind", ""), request.args.get("dep-amount", "")
    try:
        amount = parse_amount(raw)
        offer = offers.offer_for(current_user.id, settings, kind)
        # the same refusal the form gives on submit, said while typing
        error = str(offers.NO_SELLER) if offer is None else offer.refusal(amount)
        q = None if error else quotes.quote(kind, amount, settings)
    except (DomainError, ValueError) as exc:
        q, error = None, getattr(exc, "message", None) or str(exc)
    return render_template("deposits/_quote.html", quote=q, error=error if raw else None)


@bp.get("/<int:deposit_id>")
@varies_on_htmx
def show(deposit_id: int):
    """The deposit: "finding a seller…", then the invoice, then the outcome; polls while it can change."""
    if is_htmx() and request.args.get("v"):
        glance = matching.glance_own(current_user, deposit_id)
        if request.args["v"] == polling.view_version(glance, invoices.can_open_dispute(glance)):
            return "", 204  # the poll of a fragment that is still what it shows: htmx keeps it
    deposit = matching.get_own(current_user, deposit_id)
    can_dispute = invoices.can_open_dispute(deposit)
    version = polling.view_version(deposit, can_dispute)
    template = "deposits/_status.html" if is_htmx() else "deposits/show.html"
    return render_template(template, deposit=deposit, dispute_form=DisputeForm(prefix="dsp"),
                           can_dispute=can_dispute, labels=KIND_LABELS, decision=disputes.decision_of(deposit),
                           view_version=version, urgent_seconds=polling.URGENT_SECONDS,
                           poll_trigger=polling.POLL_TRIGGER,
                           payment_exceptions=[] if is_htmx() else payment_exceptions.of_deposit(deposit.id))


@bp.post("/<int:deposit_id>/paid")
def claim_paid(deposit_id: int):
    """The buyer says they have paid: we look harder, and a dispute becomes possible later."""
    invoices.claim_paid(current_user, deposit_id)
    db.session.commit()
    return redirect(url_for("deposits.show", deposit_id=deposit_id))


@bp.post("/<int:deposit_id>/cancel")
@limiter.limit("20 per minute")
def cancel(deposit_id: int):
    """The buyer will not pay: close the invoice so the seller's dollars go back on sale."""
    invoices.cancel_by_buyer(current_user, deposit_id)
    db.session.commit()
    return redirect(url_for("deposits.show", deposit_id=deposit_id))


@bp.post("/<int:deposit_id>/dispute")
def dispute(deposit_id: int):
    """Open a dispute for ops when a payment stays unconfirmed."""
    form = DisputeForm(prefix="dsp")
    if form.validate_on_submit():
        invoices.open_dispute(current_user, deposit_id, form.note.data or "")
        db.session.commit()
    return redirect(url_for("deposits.show", deposit_id=deposit_id))


@bp.get("/history")
def history():
    """The buyer's deposits, newest first."""
    deposits = matching.deposits_of(current_user)
    decisions = disputes.decisions_of([d.id for d in deposits if d.status in ("settled", "rejected")])
    return render_template("deposits/history.html", deposits=deposits, labels=KIND_LABELS, decisions=decisions,
                           title=_("Purchases"))
