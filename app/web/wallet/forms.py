"""Forms of the wallet blueprint."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import HiddenInput

from app.web.forms import AmountField, RequestKeyField, RowIdField


class RoomAccountForm(FlaskForm):
    identifier = StringField(
        _l("Your PokerOK account (e-mail, nickname or player id)"), validators=[DataRequired(), Length(max=254)]
    )
    submit = SubmitField(_l("Add account"))


class CashOutForm(FlaskForm):
    room_account = SelectField(_l("To room account"), coerce=int, validate_choice=True)
    amount = AmountField(_l("Amount, $"))
    request_key = RequestKeyField()
    submit = SubmitField(_l("Cash out"))


class HistoryFilterForm(FlaskForm):
    """The history's filter: a GET form (nothing changes), so no CSRF token; works as plain links too."""

    class Meta:
        csrf = False

    kind = SelectField(_l("Kind"), validate_choice=True, default="")
    date_from = DateField(_l("Date from"), validators=[Optional()])
    date_to = DateField(_l("Date to"), validators=[Optional()])
    before = RowIdField(widget=HiddenInput(), validators=[Optional(), NumberRange(min=1, max=2**63 - 1)])
    submit = SubmitField(_l("Show"))

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("The end date is before the start date."))
