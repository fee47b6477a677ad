"""Forms of the wallet blueprint."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.forms import AmountField, RequestKeyField


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
