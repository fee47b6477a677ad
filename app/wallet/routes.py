"""Views of the wallet blueprint."""
from __future__ import annotations

import time

from flask import current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.errors import DomainError
from app.extensions import db
from app.jobs.room import queue_cash_out
from app.services import room_accounts, wallet_view
from app.services.cashouts import request_cash_out
from app.wallet import bp
from app.wallet.forms import CashOutForm, RoomAccountForm
from app.web.htmx import render_page_or_fragment


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
    ), status


@bp.get("/")
def index():
    """The wallet: balances, how to deposit, room accounts, cash-outs, recent movements."""
    return _render()


@bp.get("/live")
def live():
    """The live part of the wallet (balances and what is in progress), polled while something is expected."""
    summary = wallet_view.summary(current_user)
    return render_page_or_fragment("wallet/index.html", "wallet/_live.html", summary=summary,
                                   waiting_for_deposit=_waiting_for_deposit(),
                                   platform_account=current_app.config["ROOM_PLATFORM_ACCOUNT"],
                                   account_form=RoomAccountForm(prefix="ra"), cash_out_form=_cash_out_form())


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
