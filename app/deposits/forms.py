"""Forms of the deposits blueprint."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, SubmitField
from wtforms.validators import Length, Optional

from app.forms import AmountField, RequestKeyField


class DepositForm(FlaskForm):
    kind = RadioField(_l("Payment method"), validate_choice=True)
    amount = AmountField(_l("Amount, ₽"))
    request_key = RequestKeyField()
    submit = SubmitField(_l("Continue"))


class DisputeForm(FlaskForm):
    note = StringField(_l("What happened (optional)"), validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Open a dispute"))
