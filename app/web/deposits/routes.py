"""Views of the deposits blueprint: parse, call one service, commit, render."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.after_commit import after_commit
from app.core.settings import current_settings
from app.errors import DomainError
from app.extensions import db, limiter
from app.market import dispute_threads, invoices, matching, offers, payment_exceptions, quotes, split_fill
from app.market.payment_forms import KIND_LABELS
from app.money import parse_amount
from app.operations import disputes
from app.web.deposits import polling
from app.web.deposits.blueprint import bp
from app.web.deposits.forms import DepositForm, DisputeForm, SplitAcceptForm
from app.web.htmx import is_htmx, varies_on_htmx


def _form(settings) -> tuple[DepositForm, list]:
    methods = offers.offers(current_user.id, settings)
    form = DepositForm(prefix="dep", offers=methods,
                       splitter=lambda kind, kopecks: split_fill.offer_or_refusal(current_user.id, settings, kind,
                                                                                  kopecks))
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
    valid = form.validate_on_submit()
    if valid and form.split_plan is not None:
        return _split_offer(form.split_plan)  # no single seller takes it: offer the split, write nothing
    if valid:
        try:
            quote = quotes.quote(form.kind.data, form.amount.minor, settings)
            deposit = matching.create_deposit(current_user, quote, form.request_key.data)
        except DomainError as exc:
            db.session.rollback()
            form.amount.errors.append(exc.message)
        else:
            if deposit.status == "matching":
                after_commit("deposit.match", deposit.id)
            db.session.commit()
            return redirect(url_for("deposits.show", deposit_id=deposit.id))
    status = 422 if form.errors else 200
    return render_template("deposits/new.html", form=form, methods=methods, settings=settings,
                           labels=KIND_LABELS), status


def _split_offer(plan, message: str | None = None, status: int = 200):
    """The split offer (or, with ``plan`` None, why there is none any more) with its accept button."""
    accept = SplitAcceptForm(prefix="spl")
    if plan is not None:
        accept.kind.data, accept.amount.data = plan.kind, str(plan.amount_kopecks)
        accept.parts.data = ",".join(str(a) for a in plan.amounts)
    return render_template("deposits/split_offer.html", plan=plan, form=accept, message=message,
                           labels=KIND_LABELS), status


@bp.post("/split")
@limiter.limit("30 per minute")
def accept_split():
    """The buyer accepts the split offer: every part reserved in one transaction (or none), then invoiced."""
    form = SplitAcceptForm(prefix="spl")
    if not form.validate_on_submit():
        return _split_offer(None, " ".join(str(e) for errors in form.errors.values() for e in errors), 422)
    try:
        raw = form.amount.data or ""
        amount = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 15 else 0
        shown = split_fill.parse_amounts(form.parts.data)
        split = split_fill.accept(current_user, current_settings(), form.kind.data, amount, shown,
                                  form.request_key.data)
    except split_fill.OfferChanged as exc:
        db.session.rollback()
        return _split_offer(exc.plan, exc.message, 409)
    except DomainError as exc:
        db.session.rollback()
        return _split_offer(None, exc.message, 422)
    after_commit("split.invoice", split.id, job_id=f"split-invoices-{split.id}")
    db.session.commit()
    return redirect(url_for("deposits.show_split", split_id=split.id))


@bp.get("/split/<int:split_id>")
@varies_on_htmx
def show_split(split_id: int):
    """The split purchase: each part with its own pay button, timer and status, and paid so far of the total."""
    view = split_fill.get_own(current_user, split_id)
    version = view.version()
    if is_htmx() and request.args.get("v") == version:
        return "", 204  # nothing the fragment shows has changed: htmx keeps it
    template = "deposits/_split_status.html" if is_htmx() else "deposits/split.html"
    return render_template(template, view=view, view_version=version, labels=KIND_LABELS,
                           urgent_seconds=polling.URGENT_SECONDS)


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
        split = None
        if error and offer is not None:
            split, beyond = split_fill.offer_or_refusal(current_user.id, settings, kind, amount)
            error = None if split else f"{error} {beyond}" if beyond else error
        q = None if error or split else quotes.quote(kind, amount, settings)
    except (DomainError, ValueError) as exc:
        q, split, error = None, None, getattr(exc, "message", None) or str(exc)
    return render_template("deposits/_quote.html", quote=q, split=split, error=error if raw else None)


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
                           poll_trigger=polling.POLL_TRIGGER, push_address=polling.push_address(deposit.id, version),
                           has_dispute_case=dispute_threads.has_case(deposit),
                           payment_exceptions=[] if is_htmx() else payment_exceptions.of_deposit(deposit.id),
                           split_part=None if is_htmx() else split_fill.part_of(deposit.id))


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
