"""Users and KYC: search, one user's full picture, KYC decisions, freeze, limits, 2FA reset."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import RadioField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.errors import DomainError, ValidationFailed
from app.extensions import db
from app.models import Role
from app.money import format_number
from app.people import kyc, staff_setup, user_admin
from app.room import room_accounts
from app.web.access import roles_required
from app.web.admin.actions import ReasonForm, action_rate_limit
from app.web.admin.blueprint import bp, section
from app.web.forms import AmountField

section("users", _l("Users"))

#: the labels live with what KYC gates (app/people/kyc.py); ``kyc_label`` is used by the user's pages too
bp.add_app_template_global(kyc.label, "kyc_label")


class KycForm(ReasonForm):
    decision = RadioField(_l("Decision"), choices=[("verified", _l("Verify")), ("rejected", _l("Reject"))],
                          validators=[InputRequired(message=_l("Choose verify or reject."))])


class LimitsForm(ReasonForm):
    deposit_daily = AmountField(_l("Purchases per day, ₽ (empty: no limit)"), validators=[Optional()])
    cashout_daily = AmountField(_l("Cash-outs per day, $ (empty: the platform's limit)"), validators=[Optional()])


class RoomAccountVerifyForm(ReasonForm):
    spelling = StringField(_l("The account exactly as the room shows it"), validators=[DataRequired(), Length(max=254)])


def _forms(limits=None, **given):
    forms = {
        "kyc_form": KycForm(prefix="kyc"), "freeze_form": ReasonForm(prefix="frz"),
        "limits_form": LimitsForm(prefix="lim"), "reset_form": ReasonForm(prefix="tfa"),
        "setup_form": ReasonForm(prefix="stp"), "setup_link": None,
        "room_verify_form": RoomAccountVerifyForm(prefix="rav"),
    }
    forms.update(given)
    if request.method == "GET" and limits is not None:
        lf = forms["limits_form"]
        if limits.deposit_daily_kopecks:
            lf.deposit_daily.data = format_number(limits.deposit_daily_kopecks, "en").replace(",", "")
        if limits.cashout_daily_cents:
            lf.cashout_daily.data = format_number(limits.cashout_daily_cents, "en").replace(",", "")
    return forms


def _render_user(user_id: int, status: int = 200, **given):
    view = user_admin.overview(user_id)
    return render_template("admin/user.html", view=view, **_forms(view.limits, **given)), status


@bp.get("/users")
def users():
    """Search users by e-mail or id, optionally by KYC status or frozen."""
    query = request.args.get("q", "")[:254]
    kyc = request.args.get("kyc") if request.args.get("kyc") in ("none", "pending", "verified", "rejected") else None
    frozen = {"yes": True, "no": False}.get(request.args.get("frozen", ""))
    return render_template("admin/users.html", users=user_admin.search(query, kyc=kyc, frozen=frozen),
                           query=query, kyc=kyc, frozen=request.args.get("frozen", ""))


@bp.get("/users/<int:user_id>")
def user(user_id: int):
    """One user: room accounts, API forms (masked), requests, invoices, ledger, audit trail, and actions."""
    return _render_user(user_id)


def _act(user_id: int, form_key: str, form, action, done_message: str):
    """Validate ``form``, call ``action(form)``, commit; re-render with the error otherwise."""
    if not form.validate_on_submit():
        return _render_user(user_id, 422, **{form_key: form})
    try:
        action(form)
    except DomainError as exc:
        db.session.rollback()
        form.form_errors.append(exc.message)
        return _render_user(user_id, exc.status_code if exc.status_code in (403, 404) else 422, **{form_key: form})
    db.session.commit()
    flash(done_message, "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/kyc")
@action_rate_limit
def user_kyc(user_id: int):
    """Verify or reject the user's KYC with a note."""
    return _act(user_id, "kyc_form", KycForm(prefix="kyc"),
                lambda f: user_admin.review_kyc(user_id, f.decision.data, actor=current_user, note=f.reason.data),
                _("KYC decision saved."))


@bp.post("/users/<int:user_id>/freeze")
@action_rate_limit
def user_freeze(user_id: int):
    """Freeze the account: no matching as a seller, no cash-outs, no new withdrawal requests."""
    return _act(user_id, "freeze_form", ReasonForm(prefix="frz"),
                lambda f: user_admin.set_frozen(user_id, True, actor=current_user, reason=f.reason.data),
                _("The account is frozen."))


@bp.post("/users/<int:user_id>/unfreeze")
@action_rate_limit
def user_unfreeze(user_id: int):
    """Unfreeze the account."""
    return _act(user_id, "freeze_form", ReasonForm(prefix="frz"),
                lambda f: user_admin.set_frozen(user_id, False, actor=current_user, reason=f.reason.data),
                _("The account is unfrozen."))


@bp.post("/users/<int:user_id>/limits")
@action_rate_limit
def user_limits_update(user_id: int):
    """Set the user's own daily purchase and cash-out limits (empty = none / the platform's)."""
    return _act(user_id, "limits_form", LimitsForm(prefix="lim"),
                lambda f: user_admin.set_limits(user_id, actor=current_user, reason=f.reason.data,
                                                deposit_daily_kopecks=f.deposit_daily.minor,
                                                cashout_daily_cents=f.cashout_daily.minor),
                _("Limits saved."))


@bp.post("/users/<int:user_id>/reset-2fa")
@action_rate_limit
def user_reset_two_factor(user_id: int):
    """Turn the user's two-factor off (lost phone) and sign them out everywhere."""
    return _act(user_id, "reset_form", ReasonForm(prefix="tfa"),
                lambda f: user_admin.reset_two_factor(user_id, actor=current_user, reason=f.reason.data),
                _("Two-factor authentication is reset; the user signs in with the password and enrols again."))


@bp.post("/users/<int:user_id>/setup-link")
@roles_required(Role.ADMIN, mfa=True)
@action_rate_limit
def user_setup_link(user_id: int):
    """Issue a staff member's one-time 2FA setup link, shown once on this page (only its hash is kept)."""
    form = ReasonForm(prefix="stp")
    if not form.validate_on_submit():
        return _render_user(user_id, 422, setup_form=form)
    user = user_admin.get_user(user_id)  # a missing user: 404 (the app's DomainError handler)
    try:
        if user.id == current_user.id:
            raise ValidationFailed(_("You cannot change your own account here; ask another member of the team."))
        token = staff_setup.issue(user, actor=current_user, reason=form.reason.data)
    except DomainError as exc:
        db.session.rollback()
        form.form_errors.append(exc.message)
        return _render_user(user_id, 422, setup_form=form)
    db.session.commit()
    return _render_user(user_id, 200, setup_link=staff_setup.link(token))


@bp.post("/users/<int:user_id>/room-accounts/<int:room_account_id>/verify")
@action_rate_limit
def user_room_account_verify(user_id: int, room_account_id: int):
    """Confirm a room account by hand (the player has no dollars to send the verification amount)."""
    return _act(user_id, "room_verify_form", RoomAccountVerifyForm(prefix="rav"),
                lambda f: room_accounts.verify_by_ops(user_id, room_account_id, spelling=f.spelling.data,
                                                      actor=current_user, reason=f.reason.data),
                _("The room account is verified."))
