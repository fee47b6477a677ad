"""Forms of the seller blueprint.

An API form's credential fields come from the adapters' ``CREDENTIAL_FIELDS``
(one class per provider kind, built on demand), so a provider's fields are
declared once.  Secrets are password inputs: WTForms never renders their
value back, and on edit a blank one keeps the stored secret.
"""
from __future__ import annotations

from datetime import time

from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, SubmitField, TimeField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.connectors.payments.base import CREDENTIAL_FIELDS, CredentialField
from app.market import form_limits
from app.market.payment_forms import NAME_MAX, VALUE_MAX
from app.money import format_number
from app.web.forms import AmountField, CountField


def _label(field: CredentialField) -> str:
    return field.label_ru if str(get_locale() or "ru") == "ru" else field.label_en


class ApiFormBase(FlaskForm):
    name = StringField(_l("Name (only you see it)"), validators=[Optional(), Length(max=NAME_MAX)],
                       render_kw={"autocomplete": "off"})
    submit = SubmitField(_l("Check and save"))

    #: names of the credential fields, in the provider's order
    credential_names: tuple[str, ...] = ()

    def credentials(self) -> dict[str, str]:
        return {name: self[name].data or "" for name in self.credential_names}


def api_form_class(kind: str, *, editing: bool) -> type[ApiFormBase]:
    """The form for one provider kind; ``editing`` makes secret fields optional (blank = keep)."""
    fields: dict[str, object] = {}
    for spec in CREDENTIAL_FIELDS[kind]:
        label = LazyString(_label, spec)
        plain = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}
        if spec.secret:
            required = Optional() if editing else DataRequired()
            fields[spec.name] = PasswordField(label, validators=[required, Length(max=VALUE_MAX)],
                                              render_kw={**plain, "autocomplete": "new-password"})
        else:
            fields[spec.name] = StringField(label, validators=[DataRequired(), Length(max=VALUE_MAX)],
                                            render_kw=plain)
    fields["credential_names"] = tuple(spec.name for spec in CREDENTIAL_FIELDS[kind])
    name = f"{kind.title()}{'Edit' if editing else 'New'}ApiForm"
    return type(name, (ApiFormBase,), fields)


def _minute_of(value) -> int | None:
    return None if value is None else value.hour * 60 + value.minute


class FormLimitsForm(FlaskForm):
    """An API form's own limits; every field may stay empty (no limit).  Rendered next to the credentials form
    on the same page, so its names differ from that form's (the CSRF token is the page's one hidden input)."""

    limit_day_rubles = AmountField(_l("Rubles per day at most"), validators=[Optional()])
    limit_day_invoices = CountField(_l("Invoices per day at most"), validators=[Optional(), NumberRange(min=0)])
    limit_gap_minutes = CountField(_l("Minutes at least between two invoices"),
                             validators=[Optional(), NumberRange(min=0, max=form_limits.MAX_GAP_MINUTES)])
    hours_start = TimeField(_l("Working hours from"), validators=[Optional()], format="%H:%M")
    hours_end = TimeField(_l("Working hours until"), validators=[Optional()], format="%H:%M")
    limits_timezone = SelectField(_l("Time zone"), default=form_limits.DEFAULT_ZONE)
    save_limits = SubmitField(_l("Save limits"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits_timezone.choices = sorted(form_limits.zone_names())

    @classmethod
    def initial(cls, pf) -> dict:
        """The form's current limits as the fields' starting values."""
        def clock(minute):
            return None if minute is None else time(minute // 60, minute % 60)

        return {"limit_day_rubles": "" if pf.limit_day_kopecks is None else format_number(pf.limit_day_kopecks),
                "limit_day_invoices": pf.limit_day_invoices, "limit_gap_minutes": pf.limit_gap_minutes,
                "hours_start": clock(pf.hours_start_minute), "hours_end": clock(pf.hours_end_minute),
                "limits_timezone": pf.limits_timezone}

    def values(self) -> dict:
        """What :func:`app.market.payment_forms.set_limits` takes."""
        return {"day_kopecks": self.limit_day_rubles.minor if self.limit_day_rubles.data else None,
                "day_invoices": self.limit_day_invoices.data, "gap_minutes": self.limit_gap_minutes.data,
                "hours_start": _minute_of(self.hours_start.data), "hours_end": _minute_of(self.hours_end.data),
                "zone": self.limits_timezone.data}
