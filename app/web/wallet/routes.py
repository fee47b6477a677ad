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
from flask_babel import gettext as _
from flask_login import current_user

from app.core.after_commit import after_commit
from app.core.settings import current_settings
from app.errors import DomainError
from app.extensions import db, limiter
from app.i18n import day_and_month
from app.money import format_usd
from app.room import room_accounts, room_ingest
from app.room.cashouts import request_cash_out
from app.web.charts import line_chart
from app.web.htmx import is_htmx, varies_on_htmx
from app.web.rate_limits import user_or_address
from app.web.wallet import history, wallet_view
from app.web.wallet.blueprint import bp
from app.web.wallet.forms import CashOutForm, HistoryFilterForm, RoomAccountForm


def _cash_out_form(accounts=None) -> CashOutForm:
    """The cash-out form offering the user's verified room accounts (``accounts``: already read, if so)."""
    form = CashOutForm(prefix="co")
    accounts = room_accounts.accounts_of(current_user.id) if accounts is None else accounts
    form.room_account.choices = [(a.id, a.identifier) for a in accounts if a.is_verified]
    return form


#: session key: until when the wallet polls for a room deposit the user says they sent
EXPECT_KEY = "expect_room_deposit_until"
#: session key: when the user said they sent it
EXPECT_SINCE_KEY = "expect_room_deposit_since"
#: how long the wallet watches for a room deposit after "I have sent dollars"
WATCH_SECONDS = 600
#: after this long with nothing credited, the wallet says so and what to check, instead of only spinning
QUIET_SECONDS = 120
#: how long the "nothing came" hint stays after the user said they sent dollars
HINT_SECONDS = 3600
#: a cash-out not confirmed by the room after this long gets a word of explanation
SLOW_CASH_OUT_SECONDS = 120


def _waiting_for_deposit() -> bool:
    return session.get(EXPECT_KEY, 0) > time.time()


def _room_wait(summary) -> dict:
    """What the live part says about waiting for the room: spin, or say nothing came yet and what to check.

    A deposit the user announced is watched (polled) for :data:`WATCH_SECONDS`,
    so a second transfer sent right after the first is seen too.  The spinner
    shows only until something is credited or :data:`QUIET_SECONDS` pass; then,
    if nothing came, a hint says what to check, and it stays for an hour.
    """
    now = time.time()
    since = session.get(EXPECT_SINCE_KEY)
    watching = since is not None and _waiting_for_deposit()
    credited = quiet = False
    if since is not None and now - since > HINT_SECONDS:
        session.pop(EXPECT_SINCE_KEY, None)
        since = None
    if since is not None:
        credited = room_ingest.credited_since(current_user.id, since)
        quiet = not credited and now - since >= QUIET_SECONDS
    in_flight = [c for c in summary.cash_outs if c.status in ("requested", "sending", "unknown")]
    cash_out_slow = any((now - c.created_at.timestamp()) >= SLOW_CASH_OUT_SECONDS for c in in_flight)
    return {
        "spinning": (watching and not credited and not quiet) or (bool(in_flight) and not cash_out_slow),
        "deposit_quiet": quiet,
        "cash_out_slow": cash_out_slow,
        "watching": watching,
    }


def _live_context(summary) -> dict:
    wait = _room_wait(summary)
    return {"summary": summary, "room_wait": wait, "waiting_for_deposit": wait["watching"],
            "platform_account": current_app.config["ROOM_PLATFORM_ACCOUNT"]}


def _render(account_form=None, cash_out_form=None, status=200):
    summary = wallet_view.summary(current_user)
    return render_template(
        "wallet/index.html",
        **_live_context(summary),
        account_form=account_form or RoomAccountForm(prefix="ra"),
        cash_out_form=cash_out_form or _cash_out_form(summary.room_accounts),
        balance_chart=_balance_chart(summary.available, summary.wallet_id),
        kyc_threshold=current_settings().kyc_threshold_cents,
    ), status


def _balance_chart(available: int, wallet_id: int | None = None):
    """The available balance at the end of each of the last 30 days, ending on the figure the page shows.

    Past days are the posted balance (holds last minutes); today is ``available`` itself, so an open
    cash-out hold or a credit that landed a moment ago never leaves the chart behind the figure above it.
    """
    points = history.balance_by_day(current_user, days=30, wallet_id=wallet_id)
    points[-1] = (points[-1][0], available)
    labelled = [(day_and_month(day), cents) for day, cents in points]
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
    if not is_htmx():
        return _render()
    summary = wallet_view.summary(current_user)
    html = render_template("wallet/_live.html", **_live_context(summary))
    # the chart is outside the polled section: send it along, swapped in by its id
    html += render_template("wallet/_balance_chart.html", balance_chart=_balance_chart(summary.available, summary.wallet_id),
                            oob=True)
    return html


@bp.post("/expect-deposit")
def expect_deposit():
    """The user has sent dollars from the room: watch for the credit live for the next ten minutes."""
    now = time.time()
    session[EXPECT_KEY] = now + WATCH_SECONDS
    session[EXPECT_SINCE_KEY] = now
    return redirect(url_for("wallet.index"))


def room_account_limit() -> str:
    """How often one user may add a room account (``ROOM_ACCOUNT_RATE_LIMIT``)."""
    return current_app.config.get("ROOM_ACCOUNT_RATE_LIMIT", "10 per hour;30 per day")


@bp.get("/room-accounts")
@varies_on_htmx
def room_accounts_live():
    """The user's room accounts with their state, polled while one awaits verification."""
    if not is_htmx():
        return _render()
    # only the accounts: this is polled every few seconds while one awaits verification
    return render_template("wallet/_room_accounts.html", room_account_list=room_accounts.accounts_of(current_user.id))


@bp.post("/room-accounts")
@limiter.limit(room_account_limit, key_func=user_or_address, methods=["POST"])
def add_room_account():
    """Register a room account; the page then shows the amount that proves ownership."""
    form = RoomAccountForm(prefix="ra")
    if not form.validate_on_submit():
        return _render(account_form=form, status=422)
    try:
        room_accounts.add_room_account(current_user, form.identifier.data)
    except room_accounts.AlreadyAdded as exc:
        db.session.rollback()
        flash(exc.message, "info")
        return redirect(url_for("wallet.index"))
    except DomainError as exc:
        db.session.rollback()
        form.identifier.errors.append(exc.message)
        return _render(account_form=form, status=422)
    db.session.commit()
    flash(_("Account added. Send the verification amount from it to confirm it is yours."), "success")
    return redirect(url_for("wallet.index"))


@bp.post("/room-accounts/<int:room_account_id>/remove")
def remove_room_account(room_account_id: int):
    """Remove one's own room account that awaits verification (a mistyped one); a verified one stays."""
    try:
        spelling = room_accounts.remove_pending(current_user, room_account_id)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _render(status=exc.status_code)
    db.session.commit()
    flash(_("Room account %(identifier)s removed.", identifier=spelling), "success")
    return redirect(url_for("wallet.index"), 303)


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
        after_commit("cash_out.send", cash_out.id)
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
