"""Forms of the deposits blueprint."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, StringField, SubmitField
from wtforms.validators import Length, Optional, ValidationError

from app.market.payment_forms import KIND_LABELS
from app.web.forms import AmountField, RequestKeyField


class DepositForm(FlaskForm):
    kind = RadioField(_l("Payment method"), validate_choice=True)
    amount = AmountField(_l("Amount, ₽"))
    request_key = RequestKeyField()
    submit = SubmitField(_l("Continue"))

    def __init__(self, *args, offers=(), splitter=None, **kwargs):
        super().__init__(*args, **kwargs)
        #: kind → :class:`app.market.offers.Offer`: the methods shown, with the ranges shown beside them
        self.offers = {o.kind: o for o in offers}
        self.kind.choices = [(o.kind, KIND_LABELS[o.kind]) for o in offers]
        #: (kind, kopecks) → (split plan or None, the refusal's extra words or None): app.market.split_fill
        self.splitter = splitter
        #: set by validation when no single seller takes the amount but several do: the offer to show
        self.split_plan = None

    def validate_amount(self, field):
        """The range enforced is the one shown: the same offer object renders it and checks it.

        An amount no single seller takes but several together do is valid as a split: ``split_plan`` holds the
        offer, and nothing is created until the buyer accepts it."""
        offer = self.offers.get(self.kind.data)
        if field.minor is None or offer is None:
            return  # a malformed amount or an unknown method already has its own error
        refusal = offer.refusal(field.minor)
        if not refusal:
            return
        plan, beyond = self.splitter(self.kind.data, field.minor) if self.splitter else (None, None)
        if plan is not None:
            self.split_plan = plan
            return
        raise ValidationError(f"{refusal} {beyond}" if beyond else refusal)


class SplitAcceptForm(FlaskForm):
    """The split offer's one button: the offer as shown travels with it, so what is reserved is what was seen."""

    kind = HiddenField()
    amount = HiddenField()
    parts = HiddenField()
    request_key = RequestKeyField()
    submit = SubmitField(_l("Accept and pay in parts"))


class DisputeForm(FlaskForm):
    note = StringField(_l("What happened (optional)"), validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Open a dispute"))
