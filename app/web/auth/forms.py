"""Forms of the auth blueprint."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp, ValidationError


def printable_text(form, field) -> None:
    """No control characters in an e-mail.  NUL is refused for every field at the edge (app/web/input_guard.py);
    this catches the line breaks the edge lets through for multi-line fields (a header injection in a mail)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in field.data or ""):
        raise ValidationError(_l("Enter a valid e-mail address."))


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254), printable_text])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    remember = BooleanField(_l("Remember me"))
    submit = SubmitField(_l("Sign in"))


class RegisterForm(FlaskForm):
    email = EmailField(
        _l("E-mail"),
        validators=[DataRequired(), Length(max=254), Email(message=_l("Enter a valid e-mail address."))],
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )
    locale = SelectField(_l("Language"), choices=[("ru", "Русский"), ("en", "English")], default="ru")
    submit = SubmitField(_l("Create account"))


class TotpForm(FlaskForm):
    code = StringField(
        _l("Code from the authenticator app"),
        validators=[DataRequired(), Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Enter the 6 digits."))],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
    submit = SubmitField(_l("Confirm"))


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=128)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )
    submit = SubmitField(_l("Change password"))


class DisableTotpForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    submit = SubmitField(_l("Turn off two-factor authentication"))


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=[("ru", "Русский"), ("en", "English")])
    submit = SubmitField(_l("Save"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254), printable_text])
    submit = SubmitField(_l("Send the link"))


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )
    submit = SubmitField(_l("Set the new password"))
