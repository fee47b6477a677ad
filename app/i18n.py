"""Language choice: Russian first, English second."""
from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_login import current_user

SESSION_KEY = "lang"


def supported_locales() -> list[str]:
    return current_app.config["BABEL_SUPPORTED_LOCALES"]


def select_locale() -> str:
    """The user's saved language, else the one chosen this session, else Russian.

    The browser's Accept-Language is deliberately not the first choice: the
    product speaks Russian first; English is one click away.
    """
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]  # jobs and the CLI speak the default
    if current_user and getattr(current_user, "is_authenticated", False):
        return current_user.locale
    chosen = session.get(SESSION_KEY)
    if chosen in supported_locales():
        return chosen
    if request.args.get("lang") in supported_locales():
        return request.args["lang"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]
