"""Forms of the deposits blueprint."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, SubmitField
from wtforms.validators import Length, Optional, ValidationError

from app.market.payment_forms import KIND_LABELS
from app.web.forms import AmountField, RequestKeyField


class DepositForm(FlaskForm):
    kind = RadioField(_l("Payment method"), validate_choice=True)
    amount = AmountField(_l("Amount, ₽"))
    request_key = RequestKeyField()
    submit = SubmitField(_l("Continue"))

    def __init__(self, *args, offers=(), **kwargs):
        super().__init__(*args, **kwargs)
        #: kind → :class:`app.market.offers.Offer`: the methods shown, with the ranges shown beside them
        self.offers = {o.kind: o for o in offers}
        self.kind.choices = [(o.kind, KIND_LABELS[o.kind]) for o in offers]

    def validate_amount(self, field):
        """The range enforced is the one shown: the same offer object renders it and checks it."""
        offer = self.offers.get(self.kind.data)
        if field.minor is None or offer is None:
            return  # a malformed amount or an unknown method already has its own error
        refusal = offer.refusal(field.minor)
        if refusal:
            raise ValidationError(refusal)


class DisputeForm(FlaskForm):
    note = StringField(_l("What happened (optional)"), validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Open a dispute"))
