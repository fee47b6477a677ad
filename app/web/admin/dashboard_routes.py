"""The ops dashboard: live figures and charts, refreshed by HTMX polling."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.extensions import db
from app.money import format_usd
from app.operations import ledger_checks, ops_dashboard
from app.web.admin.actions import ReasonForm, action_rate_limit
from app.web.admin.blueprint import bp, section
from app.web.charts import bar_chart
from app.web.labels import deposit_status_label

section("dashboard", _l("Dashboard"))

#: names of the outcome chart's groups (their colours are classes in admin.css); one per
#: ops_dashboard.OUTCOME_GROUPS, which the deposit state machine defines (a test holds the two together)
OUTCOME_LABELS = {
    "settled": _l("Settled"), "open": _l("In progress"), "disputed": _l("Disputed"), "expired": _l("Expired"),
    "cancelled": _l("Cancelled by the buyer"), "failed": _l("No seller"), "rejected": _l("Rejected"),
}


def outcome_label(group: str) -> str:
    """A group's name; a state added to the machine without a name here shows its buyer-facing label, never a 500."""
    label = OUTCOME_LABELS.get(group)
    return str(label) if label is not None else deposit_status_label(group)


def _charts() -> dict:
    hours = ops_dashboard.volume_per_hour()
    outcomes = ops_dashboard.invoice_outcomes()
    peak = max((p.usd_cents for p in hours), default=0)
    volume = bar_chart(
        [(p.hour.strftime("%H:00"), p.usd_cents) for p in hours],
        title=_("Dollars settled per hour"),
        desc=_("Peak hour: %(amount)s", amount=format_usd(peak)), fmt=format_usd,
    )
    outcome_chart = bar_chart(
        [(outcome_label(group), n) for group, n in outcomes.items()],
        title=_("Invoices by outcome"),
        desc=", ".join(f"{outcome_label(group)}: {n}" for group, n in outcomes.items()),
        classes=[f"outcome-{group}" for group in outcomes],
    )
    return {"volume": volume, "volume_peak": peak, "outcome_chart": outcome_chart, "outcomes": outcomes}


def _live_context() -> dict:
    labels = {group: outcome_label(group) for group in ops_dashboard.OUTCOME_GROUPS}
    return {"figures": ops_dashboard.figures(), "outcome_labels": labels, **_charts()}


@bp.get("/")
def dashboard():
    """Today's figures, the queue, what needs ops, and the ledger's health; the panel refreshes itself."""
    return render_template("admin/dashboard.html", verify_form=ReasonForm(prefix="lv"), **_live_context())


@bp.get("/live")
def dashboard_live():
    """The dashboard's live panel alone (HTMX polls it; a boosted page load gets the whole page above)."""
    return render_template("admin/_dashboard_live.html", **_live_context())


@bp.post("/ledger-check")
@action_rate_limit
def request_ledger_check():
    """Ask for `flask ledger verify` now; a job runs it and the dashboard shows the result."""
    form = ReasonForm(prefix="lv")
    if form.validate_on_submit():
        ledger_checks.request_check(actor=current_user, reason=form.reason.data)
        db.session.commit()
        flash(_("The ledger check is queued; its result appears on the dashboard in a moment."), "success")
    else:
        flash(_("Give a reason."), "danger")
    return redirect(url_for("admin.dashboard"))
