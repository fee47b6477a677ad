"""Forms of the notification centre."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, SubmitField
from wtforms.validators import Length, Optional, Regexp


class MarkReadForm(FlaskForm):
    """Mark one notification read; ``go`` = then open the page it is about."""

    go = HiddenField()


class MarkAllReadForm(FlaskForm):
    submit = SubmitField(_l("Mark all as read"))


class ChannelsForm(FlaskForm):
    email = BooleanField(_l("By e-mail, to my account's address"))
    telegram = BooleanField(_l("In Telegram"))
    telegram_chat_id = StringField(
        _l("Telegram chat id"),
        validators=[Optional(), Length(max=21),
                    Regexp(r"^\s*-?\d{1,20}\s*$", message=_l("A Telegram chat id is a number, like 123456789."))],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    submit = SubmitField(_l("Save"))
