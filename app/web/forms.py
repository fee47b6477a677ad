"""Form pieces shared by several blueprints."""
from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, Regexp, ValidationError

from app.money import AmountError, parse_amount


class AmountField(StringField):
    """A money amount typed by a person ("12.50", "12,50", "1 000"), kept as integer minor units."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators or [DataRequired()], **kwargs)
        self.minor: int | None = None

    def pre_validate(self, form):
        self.minor = None
        if not self.data:
            return
        try:
            self.minor = parse_amount(self.data)
        except AmountError as exc:
            raise ValidationError(str(exc)) from exc


class RequestKeyField(HiddenField):
    """A random key rendered into the form: a double submit carries the same key, so it acts once."""

    def __init__(self, label=None, **kwargs):
        super().__init__(label, [DataRequired(), Regexp(r"^[0-9a-f]{32}$", message=_l("Reload the page and try again."))],
                         default=lambda: uuid.uuid4().hex, **kwargs)


class CountField(IntegerField):
    """A small whole number a person types (counts, limits).  Beyond ±10⁹ it is "not a valid integer"
    rather than a value that crashes WTForms' NumberRange (``math.isnan`` of a huge int overflows)."""

    limit = 10**9

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) > self.limit:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))


class RowIdField(CountField):
    """A row id or paging cursor: anything a BIGINT column cannot hold is "not a valid integer"."""

    limit = 2**63 - 1
