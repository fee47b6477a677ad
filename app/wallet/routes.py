"""Views of the wallet blueprint."""
from __future__ import annotations

import time

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from app.errors import DomainError
from app.extensions import db, limiter
from app.jobs.room import queue_cash_out
from app.money import format_usd
from app.services import history, room_accounts, wallet_view
from app.services.cashouts import request_cash_out
from app.services.settings import current_settings
from app.wallet import bp
from app.wallet.forms import CashOutForm, HistoryFilterForm, RoomAccountForm
from app.web.charts import line_chart
from app.web.htmx import is_htmx, render_page_or_fragment, varies_on_htmx


def _cash_out_form() -> CashOutForm:
    form = CashOutForm(prefix="co")
    form.room_account.choices = [
        (a.id, a.identifier) for a in room_accounts.accounts_of(current_user.id) if a.is_verified
    ]
    return form


#: session key: until when the wallet polls for a room deposit the user says they sent
EXPECT_KEY = "expect_room_deposit_until"


def _waiting_for_deposit() -> bool:
    return session.get(EXPECT_KEY, 0) > time.time()


def _render(account_form=None, cash_out_form=None, status=200):
    summary = wallet_view.summary(current_user)
    return render_template(
        "wallet/index.html",
        summary=summary,
        waiting_for_deposit=_waiting_for_deposit(),
        platform_account=current_app.config["ROOM_PLATFORM_ACCOUNT"],
        account_form=account_form or RoomAccountForm(prefix="ra"),
        cash_out_form=cash_out_form or _cash_out_form(),
        balance_chart=_balance_chart(summary.available),
        kyc_threshold=current_settings().kyc_threshold_cents,
    ), status


def _balance_chart(available: int):
    """The available balance at the end of each of the last 30 days, ending on the figure the page shows.

    Past days are the posted balance (holds last minutes); today is ``available`` itself, so an open
    cash-out hold or a credit that landed a moment ago never leaves the chart behind the figure above it.
    """
    points = history.balance_by_day(current_user, days=30)
    points[-1] = (points[-1][0], available)
    labelled = [(format_date(day, "d MMM"), cents) for day, cents in points]
    values = [cents for _, cents in points]
    desc = _("Balance on %(first)s: %(start)s; on %(last)s: %(end)s; highest %(high)s, lowest %(low)s.",
             first=labelled[0][0], start=format_usd(values[0]), last=labelled[-1][0], end=format_usd(values[-1]),
             high=format_usd(max(values)), low=format_usd(min(values)))
    return line_chart(labelled, title=_("Balance over the last 30 days"), desc=desc, fmt=format_usd)


@bp.get("/")
def index():
    """The wallet: balances, how to deposit, room accounts, cash-outs, recent movements."""
    return _render()


@bp.get("/live")
@varies_on_htmx
def live():
    """The live part of the wallet (balances and what is in progress), polled while something is expected."""
    summary = wallet_view.summary(current_user)
    chart = _balance_chart(summary.available)
    html = render_page_or_fragment("wallet/index.html", "wallet/_live.html", summary=summary,
                                   waiting_for_deposit=_waiting_for_deposit(),
                                   platform_account=current_app.config["ROOM_PLATFORM_ACCOUNT"],
                                   account_form=RoomAccountForm(prefix="ra"), cash_out_form=_cash_out_form(),
                                   kyc_threshold=current_settings().kyc_threshold_cents, balance_chart=chart)
    if is_htmx():  # the chart is outside the polled section: send it along, swapped in by its id
        html += render_template("wallet/_balance_chart.html", balance_chart=chart, oob=True)
    return html


@bp.post("/expect-deposit")
def expect_deposit():
    """The user has sent dollars from the room: watch for the credit live for the next ten minutes."""
    session[EXPECT_KEY] = time.time() + 600
    return redirect(url_for("wallet.index"))


@bp.post("/room-accounts")
def add_room_account():
    """Register a room account; the page then shows the amount that proves ownership."""
    form = RoomAccountForm(prefix="ra")
    if not form.validate_on_submit():
        return _render(account_form=form, status=422)
    try:
        account = room_accounts.add_room_account(current_user, form.identifier.data)
    except DomainError as exc:
        db.session.rollback()
        form.identifier.errors.append(exc.message)
        return _render(account_form=form, status=422)
    db.session.commit()
    if not account.is_verified:
        flash(_("Account added. Send the verification amount from it to confirm it is yours."), "success")
    return redirect(url_for("wallet.index"))


@bp.post("/cash-outs")
def cash_out():
    """Ask to send dollars to a verified room account; the amount is held at once."""
    form = _cash_out_form()
    if not form.validate_on_submit():
        return _render(cash_out_form=form, status=422)
    try:
        cash_out = request_cash_out(current_user, form.room_account.data, form.amount.minor, form.request_key.data)
    except DomainError as exc:
        db.session.rollback()
        form.amount.errors.append(exc.message)
        return _render(cash_out_form=form, status=422)
    if cash_out.status == "requested":
        queue_cash_out(cash_out.id)
    db.session.commit()
    flash(_("Cash-out requested. It usually arrives within a minute."), "success")
    return redirect(url_for("wallet.index"))


def _history_filters() -> tuple[HistoryFilterForm, history.Filters | None]:
    form = HistoryFilterForm(formdata=request.args)
    form.kind.choices = [("", _("All kinds")), *((k, str(v)) for k, v in history.CATEGORIES.items())]
    if not form.validate():
        return form, None
    return form, history.Filters(category=form.kind.data or None, date_from=form.date_from.data,
                                 date_to=form.date_to.data)


@bp.get("/history")
@varies_on_htmx
def history_page():
    """Every movement of the user's dollars in plain words, filtered, newest first, a page at a time."""
    form, filters = _history_filters()
    if filters is None:
        return render_template("wallet/history.html", form=form, page=None, filters=None), 422
    page = history.page(current_user, filters, before=form.before.data)
    if is_htmx() and form.before.data:
        # "load more": only the next rows and the next button, appended to the table
        return render_template("wallet/_history_rows.html", page=page, filters=filters)
    return render_template("wallet/history.html", form=form, page=page, filters=filters)


@bp.get("/history.csv")
@limiter.limit("10 per minute")
def history_csv():
    """The filtered history as a CSV file, streamed in batches."""
    form, filters = _history_filters()
    if filters is None:
        return render_template("wallet/history.html", form=form, page=None, filters=None), 422
    body = stream_with_context(history.export_rows(current_user, filters))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="pokerpay-history.csv"', "Cache-Control": "no-store"})
