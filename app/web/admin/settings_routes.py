"""Platform settings (admin only): a new version per change, with who, when and why; the history."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.core import settings as settings_service
from app.errors import DomainError
from app.extensions import db
from app.models import Role
from app.web.access import roles_required
from app.web.admin.actions import ReasonForm, action_rate_limit
from app.web.admin.blueprint import bp, section
from app.web.forms import AmountField, CountField

section("settings", _l("Settings"), admin_only=True)

#: form field → (settings column, kind): "money" is parsed to minor units (also percents → basis points)
FIELDS = {
    "rate_yoomoney": ("rate_yoomoney_kopecks", "money"),
    "rate_yookassa": ("rate_yookassa_kopecks", "money"),
    "rate_tbank": ("rate_tbank_kopecks", "money"),
    "commission": ("commission_bps", "percent"),
    "commission_min": ("commission_min_cents", "money"),
    "buyer_fee": ("buyer_fee_bps", "percent"),
    "invoice_lifetime": ("invoice_lifetime_seconds", "minutes"),
    "invoice_min": ("invoice_min_kopecks", "money"),
    "invoice_max": ("invoice_max_kopecks", "money"),
    "cashout_min": ("cashout_min_cents", "money"),
    "cashout_daily_limit": ("cashout_daily_limit_cents", "money"),
    "kyc_threshold": ("kyc_threshold_cents", "money"),
    "split_max_parts": ("split_max_parts", "count"),
    "dispute_answer": ("dispute_answer_seconds", "hours"),
}

LABELS = {
    "rate_yoomoney_kopecks": _l("Rate, YooMoney (₽ per $)"),
    "rate_yookassa_kopecks": _l("Rate, YooKassa (₽ per $)"),
    "rate_tbank_kopecks": _l("Rate, T-Bank (₽ per $)"),
    "commission_bps": _l("Seller commission on room deposits, %"),
    "commission_min_cents": _l("Smallest commission, $"),
    "buyer_fee_bps": _l("Buyer fee, %"),
    "invoice_lifetime_seconds": _l("Invoice lifetime, minutes"),
    "invoice_min_kopecks": _l("Smallest invoice, ₽"),
    "invoice_max_kopecks": _l("Largest invoice, ₽"),
    "cashout_min_cents": _l("Smallest cash-out, $"),
    "cashout_daily_limit_cents": _l("Cash-outs per user per day, $"),
    "kyc_threshold_cents": _l("KYC needed for one cash-out or withdrawal request above, $"),
    "support_contact": _l("Support contact"),
    "split_max_parts": _l("Most payments one purchase is split into (1: never split)"),
    "dispute_answer_seconds": _l("Seller's time to answer a dispute, hours"),
}


class AmountOrZeroField(AmountField):
    """An amount where zero is allowed: a percentage ("2.5" → 250 basis points) or the smallest commission."""

    def pre_validate(self, form):
        self.minor = None
        if self.data is not None and str(self.data).strip() in ("0", "0.0", "0.00", "0,0", "0,00"):
            self.minor = 0
            return
        super().pre_validate(form)


class SettingsForm(ReasonForm):
    rate_yoomoney = AmountField(LABELS["rate_yoomoney_kopecks"])
    rate_yookassa = AmountField(LABELS["rate_yookassa_kopecks"])
    rate_tbank = AmountField(LABELS["rate_tbank_kopecks"])
    commission = AmountOrZeroField(LABELS["commission_bps"])
    commission_min = AmountOrZeroField(LABELS["commission_min_cents"])
    buyer_fee = AmountOrZeroField(LABELS["buyer_fee_bps"])
    invoice_lifetime = CountField(LABELS["invoice_lifetime_seconds"], validators=[InputRequired(), NumberRange(
        min=settings_service.MIN_INVOICE_LIFETIME_SECONDS // 60, max=settings_service.MAX_INVOICE_LIFETIME_SECONDS // 60,
        message=_l("An invoice lives from 1 minute to 24 hours."))])
    invoice_min = AmountField(LABELS["invoice_min_kopecks"])
    invoice_max = AmountField(LABELS["invoice_max_kopecks"])
    cashout_min = AmountField(LABELS["cashout_min_cents"])
    cashout_daily_limit = AmountField(LABELS["cashout_daily_limit_cents"])
    kyc_threshold = AmountField(LABELS["kyc_threshold_cents"])
    split_max_parts = CountField(LABELS["split_max_parts"], validators=[InputRequired(), NumberRange(
        min=1, max=settings_service.MAX_SPLIT_PARTS,
        message=_l("A purchase is split into at most 1 to 10 payments (1: never split)."))])
    dispute_answer = CountField(LABELS["dispute_answer_seconds"], validators=[InputRequired(), NumberRange(
        min=settings_service.MIN_DISPUTE_ANSWER_SECONDS // 3600, max=settings_service.MAX_DISPUTE_ANSWER_SECONDS // 3600,
        message=_l("The seller's time to answer a dispute is from 1 hour to 7 days."))])

    def fill_from(self, current) -> None:
        for name, (column, kind) in FIELDS.items():
            value = getattr(current, column)
            self[name].data = (value // _SECONDS[kind] if kind in _SECONDS else value if kind == "count"
                               else _plain(value))

    def values(self) -> dict[str, int]:
        result = {}
        for name, (column, kind) in FIELDS.items():
            field = self[name]
            result[column] = (field.data * _SECONDS[kind] if kind in _SECONDS else field.data if kind == "count"
                              else field.minor)
        return result


def _plain(minor: int) -> str:
    whole, part = divmod(minor, 100)
    return f"{whole}" if part == 0 else f"{whole}.{part:02d}"


_KIND_OF = {column: kind for column, kind in FIELDS.values()}
#: the whole-number fields typed in a unit of time, and its seconds
_SECONDS = {"minutes": 60, "hours": 3600}
_UNITS = {"rate": " ₽", "kopecks": " ₽", "cents": " $", "bps": " %"}


def show(column: str, value: int | str) -> str:
    """A settings value as the form takes it, with its unit."""
    if column == "support_contact":
        return value or _("(none)")
    if _KIND_OF[column] == "minutes":
        return _("%(n)s min", n=value // 60)
    if _KIND_OF[column] == "count":
        return str(value)
    if _KIND_OF[column] == "hours":
        return _("%(n)s h", n=value // 3600)
    unit = next((u for suffix, u in _UNITS.items() if column.endswith(suffix) or column.startswith(suffix)), "")
    return _plain(value) + unit


def _render(form: SettingsForm, status: int = 200, support_form: SupportContactForm | None = None):
    if support_form is None:
        support_form = SupportContactForm(prefix="sc")
        support_form.contact.data = settings_service.current_settings().support_contact
    return render_template("admin/settings.html", form=form, history=settings_service.history(), labels=LABELS,
                           show=show, support_form=support_form), status


@bp.route("/settings", methods=["GET", "POST"])
@roles_required(Role.ADMIN, mfa=True)
@action_rate_limit
def settings():
    """Change rates, commissions, fees, invoice lifetime and limits; each change is a new version."""
    form = SettingsForm(prefix="st")
    if request.method == "GET":
        form.fill_from(settings_service.current_settings())
        return _render(form)
    if not form.validate_on_submit():
        return _render(form, 422)
    values = form.values()
    current = settings_service.current_settings()
    if all(getattr(current, column) == value for column, value in values.items()):
        form.form_errors.append(_("Nothing changed."))
        return _render(form, 422)
    try:
        settings_service.change_settings(actor=current_user, reason=form.reason.data, **values)
    except DomainError as exc:
        db.session.rollback()
        form.form_errors.append(exc.message)
        return _render(form, 422)
    db.session.commit()
    flash(_("Settings saved as a new version; they apply to new quotes only."), "success")
    return redirect(url_for("admin.settings"))




class SupportContactForm(ReasonForm):
    """The support contact users see in the footer, the help page and dispute decisions (its own small form)."""

    contact = StringField(LABELS["support_contact"],
                          validators=[Optional(), Length(max=settings_service.SUPPORT_CONTACT_MAX)],
                          description=_l("An e-mail, a Telegram @name or an https:// page; empty for none."),
                          render_kw={"maxlength": settings_service.SUPPORT_CONTACT_MAX, "autocomplete": "off"})


@bp.post("/settings/support-contact")
@roles_required(Role.ADMIN, mfa=True)
@action_rate_limit
def support_contact():
    """Change how users reach support: a new settings version like any other change."""
    support_form = SupportContactForm(prefix="sc")
    form = SettingsForm(prefix="st")
    form.fill_from(settings_service.current_settings())
    if not support_form.validate_on_submit():
        return _render(form, 422, support_form)
    try:
        settings_service.change_support_contact(actor=current_user, reason=support_form.reason.data,
                                                contact=support_form.contact.data)
    except DomainError as exc:  # refused before anything is written
        db.session.rollback()
        support_form.contact.errors = [*support_form.contact.errors, exc.message]
        return _render(form, 422, support_form)
    db.session.commit()
    flash(_("The support contact is saved."), "success")
    return redirect(url_for("admin.settings"))
