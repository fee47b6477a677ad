"""Views of the auth blueprint: parse, call app.people.accounts, commit, render."""
from __future__ import annotations

from urllib.parse import urlsplit

import segno
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.core import audit
from app.errors import ValidationFailed
from app.extensions import db, limiter
from app.i18n import SESSION_KEY as LANG_KEY
from app.models import User
from app.people import accounts, password_reset
from app.people import staff_setup as setup_links
from app.web.access import MFA_SESSION_KEY, public
from app.web.auth import known_device
from app.web.auth.blueprint import bp
from app.web.auth.forms import (
    ChangePasswordForm,
    DisableTotpForm,
    ForgotPasswordForm,
    LanguageForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
    TotpForm,
)

PENDING_2FA_KEY = "pending_2fa_user"
#: the staff setup link opened in this session (its row id; checked again at every use)
STAFF_SETUP_KEY = "staff_setup_link"


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _register_limit():
    return current_app.config["REGISTER_RATE_LIMIT"]


def _reset_limit():
    return current_app.config.get("PASSWORD_RESET_RATE_LIMIT", "5 per minute;20 per hour")


def _safe_next(default: str) -> str:
    """Only same-site relative paths, never an open redirect."""
    target = request.args.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and not parts.scheme:
        return target
    return default


def _start_session(user: User, *, remember: bool, second_factor: bool) -> None:
    # A fresh session at login: nothing an attacker planted before survives (fixation).
    lang = session.get(LANG_KEY)
    session.clear()
    if lang:
        session[LANG_KEY] = lang
    login_user(user, remember=remember)
    session[MFA_SESSION_KEY] = second_factor
    accounts.record_login(user, second_factor=second_factor)


def _slowed_down(form_field, retry_after: int):
    """The account's slow-down refused the attempt: say how long to wait (429, as the address limit does)."""
    form_field.errors.append(_("Too many failed sign-ins to this account. Try again in %(n)d s, or reset the "
                               "password.", n=retry_after))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def login():
    """Sign in with e-mail and password; continues to the 2FA step when enabled."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        attempt = accounts.password_step(form.email.data, form.password.data, remembered=known_device.remembered())
        user = attempt.user
        if attempt.retry_after:
            db.session.commit()  # keep the audit entry
            _slowed_down(form.password, attempt.retry_after)
            return render_template("auth/login.html", form=form), 429
        if user is None:
            db.session.commit()  # keep the audit entry and the count of the failure
            form.password.errors.append(_("Wrong e-mail or password."))
        elif user.totp_enabled:
            session[PENDING_2FA_KEY] = {"id": user.id, "remember": bool(form.remember.data),
                                        "known_device": attempt.gate.by_known_device}
            db.session.commit()
            return redirect(url_for("auth.login_2fa", next=request.args.get("next")))
        else:
            _start_session(user, remember=bool(form.remember.data), second_factor=False)
            db.session.commit()
            if user.is_staff:
                # Enrolment needs the one-time setup link: back to it when the sign-in started there.
                flash(_("Staff accounts must enable two-factor authentication."), "warning")
                return known_device.remember(redirect(_safe_next(url_for("auth.two_factor"))), user)
            return known_device.remember(redirect(_safe_next(url_for("main.index"))), user)
    return render_template("auth/login.html", form=form)


@bp.route("/login/2fa", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def login_2fa():
    """Second step of sign-in: the TOTP code."""
    pending = session.get(PENDING_2FA_KEY)
    user = db.session.get(User, pending["id"]) if pending else None
    if user is None or not user.totp_enabled:
        return redirect(url_for("auth.login"))
    form = TotpForm()
    if form.validate_on_submit():
        attempt = accounts.code_step(user, form.code.data, known_device=bool(pending.get("known_device")))
        if attempt.user is not None:
            _start_session(user, remember=pending["remember"], second_factor=True)
            db.session.commit()
            return known_device.remember(redirect(_safe_next(url_for("main.index"))), user)
        db.session.commit()
        if attempt.retry_after:
            _slowed_down(form.code, attempt.retry_after)
            return render_template("auth/login_2fa.html", form=form), 429
        form.code.errors.append(_("The code is wrong or has already been used."))
    return render_template("auth/login_2fa.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
@public
def forgot_password():
    """Ask for a reset link by e-mail; the same answer whether or not the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        password_reset.request_reset(form.email.data)
        db.session.commit()
        flash(_("If an account with this e-mail exists, we have sent it a link to choose a new password. "
                "The link works for an hour."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def reset_password(token: str):
    """Choose a new password with the link from the e-mail; every session of the account ends."""
    if password_reset.user_of(token) is None:
        return render_template("auth/reset_password.html", form=None), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            password_reset.reset(token, form.password.data)
        except password_reset.ResetLinkInvalid:
            db.session.rollback()
            return render_template("auth/reset_password.html", form=None), 400
        except ValidationFailed as exc:
            db.session.rollback()
            form.password.errors.append(exc.message)
        else:
            db.session.commit()
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash(_("Your password is changed and every session of the account has ended. Sign in with the "
                    "new password."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_register_limit, methods=["POST"])
@public
def register():
    """Create an account (buyer and seller alike)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    if request.method == "GET":
        form.locale.data = session.get(LANG_KEY, "ru")
    if form.validate_on_submit():
        try:
            user = accounts.register(form.email.data, form.password.data, locale=form.locale.data)
        except ValidationFailed as exc:
            db.session.rollback()
            target = form.email if isinstance(exc, accounts.EmailTaken) else form.password
            target.errors.append(exc.message)
        else:
            _start_session(user, remember=False, second_factor=False)
            db.session.commit()
            flash(_("Welcome to PokerPay!"), "success")
            return redirect(url_for("main.index"))
    return render_template("auth/register.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Sign out everywhere this session was used."""
    accounts.end_all_sessions(current_user)
    audit.record("auth.logout", actor=current_user, target=current_user)
    db.session.commit()
    logout_user()
    lang = session.get(LANG_KEY)
    session.clear()
    if lang:
        session[LANG_KEY] = lang
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Account settings: language and password."""
    language_form = LanguageForm(prefix="lang", locale=current_user.locale)
    password_form = ChangePasswordForm(prefix="pw")
    if language_form.submit.data and language_form.validate_on_submit():
        current_user.locale = language_form.locale.data
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("auth.account"))
    if password_form.submit.data and password_form.validate_on_submit():
        try:
            accounts.change_password(current_user, password_form.current.data, password_form.password.data)
        except ValidationFailed as exc:
            db.session.rollback()
            password_form.password.errors.append(exc.message)
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash(_("Password changed. Sign in with the new password."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/account.html", language_form=language_form, password_form=password_form)


@bp.get("/account/2fa/setup/<token>")
@login_required
def staff_setup(token: str):
    """A staff member opens the one-time setup link (signed in with the password): enrolment opens."""
    link = setup_links.find_valid(current_user, token) if setup_links.needs_link(current_user) else None
    if link is None:
        audit.record("auth.staff_setup_refused", actor=current_user, target=current_user)
        db.session.commit()
        return render_template("auth/staff_setup_needed.html", invalid=True), 400
    session[STAFF_SETUP_KEY] = link.id
    return redirect(url_for("auth.two_factor"))


@bp.route("/account/2fa", methods=["GET", "POST"])
@login_required
def two_factor():
    """Enrol in TOTP two-factor authentication (QR code), or see that it is on."""
    form = TotpForm()
    disable_form = DisableTotpForm(prefix="off")
    if current_user.totp_enabled:
        return render_template("auth/two_factor.html", enabled=True, disable_form=disable_form)
    setup_link = session.get(STAFF_SETUP_KEY)
    if setup_links.needs_link(current_user) and not setup_links.still_valid(current_user, setup_link):
        # The password alone must not let anyone bind their own authenticator to a staff account.
        return render_template("auth/staff_setup_needed.html", invalid=False), 403
    if request.method == "GET" or not current_user.totp_secret_encrypted:
        uri = accounts.start_totp_enrolment(current_user)
        db.session.commit()
    else:
        uri = accounts.totp_uri(current_user)
        if form.validate_on_submit():
            needs_link = setup_links.needs_link(current_user)
            if accounts.confirm_totp_enrolment(current_user, form.code.data):
                if needs_link and not setup_links.consume(current_user, setup_link):
                    db.session.rollback()  # used up or expired meanwhile (another tab): nothing is enrolled
                    return render_template("auth/staff_setup_needed.html", invalid=True), 400
                session[MFA_SESSION_KEY] = True
                session.pop(STAFF_SETUP_KEY, None)
                db.session.commit()
                flash(_("Two-factor authentication is on."), "success")
                return redirect(url_for("auth.two_factor"))
            form.code.errors.append(_("The code is wrong. Check the time on your phone and try again."))
    qr_svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    secret = uri.split("secret=")[1].split("&")[0]
    return render_template("auth/two_factor.html", enabled=False, form=form, qr_svg=qr_svg, secret=secret)


@bp.post("/account/2fa/disable")
@login_required
def disable_two_factor():
    """Turn two-factor off (not allowed for staff)."""
    form = DisableTotpForm(prefix="off")
    if current_user.is_staff:
        flash(_("Staff accounts cannot turn two-factor authentication off."), "danger")
        return redirect(url_for("auth.two_factor"))
    if form.validate_on_submit() and accounts.check_password(current_user, form.password.data):
        accounts.disable_totp(current_user, actor=current_user)
        db.session.commit()
        logout_user()
        session.clear()
        flash(_("Two-factor authentication is off. Sign in again."), "success")
        return redirect(url_for("auth.login"))
    flash(_("Wrong password."), "danger")
    return redirect(url_for("auth.two_factor"))
