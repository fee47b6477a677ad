"""Forms of the seller blueprint.

An API form's credential fields come from the adapters' ``CREDENTIAL_FIELDS``
(one class per provider kind, built on demand), so a provider's fields are
declared once.  Secrets are password inputs: WTForms never renders their
value back, and on edit a blank one keeps the stored secret.
"""
from __future__ import annotations

from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from app.connectors.payments.base import CREDENTIAL_FIELDS, CredentialField
from app.market.payment_forms import NAME_MAX, VALUE_MAX


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
