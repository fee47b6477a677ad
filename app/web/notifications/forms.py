"""Forms of the notification centre."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SubmitField


class MarkReadForm(FlaskForm):
    """Mark one notification read; ``go`` = then open the page it is about."""

    go = HiddenField()


class MarkAllReadForm(FlaskForm):
    submit = SubmitField(_l("Mark all as read"))


class ChannelsForm(FlaskForm):
    email = BooleanField(_l("By e-mail, to my account's address"))
    #: shown once a chat is linked: notifications can be paused there without unlinking it
    telegram = BooleanField(_l("In Telegram"))
    submit = SubmitField(_l("Save"))


class ConnectTelegramForm(FlaskForm):
    """Make a one-time deep link to the bot (a new one replaces an unused old one)."""

    submit = SubmitField(_l("Connect Telegram"))


class DisconnectTelegramForm(FlaskForm):
    submit = SubmitField(_l("Disconnect"))
