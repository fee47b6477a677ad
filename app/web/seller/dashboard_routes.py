"""The seller's dashboard: API form health, withdrawal requests with live progress, invoices and sales."""
from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.settings import current_settings
from app.database import utcnow
from app.i18n import day_and_month
from app.market import dispute_threads, form_health, form_limits, payment_forms, queue_view, sales, withdrawals
from app.money import format_rub, format_usd
from app.operations import disputes
from app.web.charts import bar_chart, stacked_bar
from app.web.htmx import is_htmx, varies_on_htmx
from app.web.seller.blueprint import bp
from app.web.seller.withdrawal_routes import ActionForm


def _progress_bar(p) -> object:
    desc = _("Sold %(filled)s, in open invoices %(reserved)s, for sale %(remaining)s of %(amount)s.",
             filled=format_usd(p.filled), reserved=format_usd(p.reserved), remaining=format_usd(p.remaining),
             amount=format_usd(p.amount))
    return stacked_bar([(_("sold"), p.filled, "part-filled"), (_("in open invoices"), p.reserved, "part-reserved"),
                        (_("for sale"), p.remaining, "part-remaining")],
                       total=p.amount, title=_("Progress of the request"), desc=desc)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _use_bar(title: str, used: int, limit: int, text: str) -> object:
    """One slim bar of a day's use against its limit, like a withdrawal request's progress (the track is what is
    left; at the end of it the form takes no invoice until the next local day)."""
    return stacked_bar([(text, used, "part-filled")], total=max(limit, 1), title=title, desc=text)


def _limits_today(pf, now) -> dict | None:
    """What the dashboard shows of a form's limits today: bars of rubles and invoices, hours, the next invoice."""
    today = form_limits.today_of(pf, now)
    if today is None:
        return None
    limits, usage, bars = today.limits, today.usage, []
    if limits.day_kopecks is not None:
        text = _("Rubles today: %(used)s of %(limit)s", used=format_rub(usage.kopecks),
                 limit=format_rub(limits.day_kopecks))
        bars.append((text, _use_bar(_("Rubles today"), usage.kopecks, limits.day_kopecks, text)))
    if limits.day_invoices is not None:
        text = _("Invoices today: %(used)s of %(limit)s", used=usage.invoices, limit=limits.day_invoices)
        bars.append((text, _use_bar(_("Invoices today"), usage.invoices, limits.day_invoices, text)))
    zone = form_limits.zone_of(today.zone)
    hours = None
    if limits.hours is not None:
        hours = _("Working hours %(start)s–%(end)s (%(zone)s)", start=_clock(limits.hours[0]),
                  end=_clock(limits.hours[1]), zone=today.zone)
    upcoming = None
    if today.next_at is not None:
        upcoming = _("Next invoice not before %(when)s (%(zone)s)",
                     when=today.next_at.astimezone(zone).strftime("%d.%m %H:%M"), zone=today.zone)
    return {"bars": bars, "hours": hours, "state": today.state, "next": upcoming}


def _live_context() -> dict:
    rows = [(r, withdrawals.progress(r)) for r in withdrawals.own_requests(current_user)
            if r.status in ("active", "paused")]
    return {"rows": rows, "bar_of": _progress_bar, "action_form": ActionForm(),
            "open_invoices": withdrawals.open_invoices_of_seller(current_user),
            "outlooks": queue_view.seller_outlooks(rows, current_settings())}


def _earnings_chart():
    points = [(day_and_month(day), kopecks) for day, kopecks in sales.earnings_by_day(current_user, days=14)]
    total = sum(v for _, v in points)
    desc = _("Rubles received per day over the last 14 days; %(total)s in all.", total=format_rub(total))
    return bar_chart(points, title=_("Earnings per day"), desc=desc, fmt=format_rub), total


@bp.get("/")
def index():
    """The seller's overview: API forms and their health, live requests and invoices, sales."""
    forms = payment_forms.own_forms(current_user)
    now = utcnow()
    limits_today = {pf.id: _limits_today(pf, now) for pf in forms}
    chart, earned = _earnings_chart()
    seller_disputes = disputes.of_seller(current_user)
    return render_template("seller/index.html", forms=forms, health_of=form_health.health_of, limits_today=limits_today,
                           kind_labels=payment_forms.KIND_LABELS,
                           paused=[f for f in forms if f.circuit == "open"],
                           sales=sales.recent_sales(current_user), earnings_chart=chart, earned=earned,
                           disputes=seller_disputes,
                           dispute_cases=dispute_threads.cases_of([d.deposit.id for d in seller_disputes]),
                           **_live_context())


@bp.get("/live")
@varies_on_htmx
def dashboard_live():
    """The dashboard's live part (requests' progress and open invoices), polled while something is open."""
    if not is_htmx():
        return redirect(url_for("seller.index"))
    return render_template("seller/_dashboard_live.html", **_live_context())
