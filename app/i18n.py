"""Language choice: Russian first, English second."""
from __future__ import annotations

from datetime import date

from babel import Locale
from flask import current_app, has_request_context, request, session
from flask_babel import get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

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


def template_gettext() -> dict:
    """A context processor: the template's ``_``, ``gettext`` and ``ngettext``, bound to this render's
    translations.

    Flask-Babel's template functions look the translations up again for every string (the request's
    context, the domain, the locale, the catalogue: about 24 µs a string here, a hundred strings a page).
    Looked up once per render instead, a string costs a dictionary look-up; a render inside
    ``force_locale`` still gets that locale's catalogue.  Jinja's new-style semantics are kept: the
    result is a format string (``%(name)s`` filled in, escaped where the template autoescapes).  Macros
    imported without the context fall back to Flask-Babel's functions, with the same result.
    """
    translations = get_translations()
    ugettext, ungettext = translations.ugettext, translations.ungettext

    @pass_context
    def gettext(context, string, **variables):
        rv = ugettext(string)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704  (our own catalogue, as Jinja does; the variables are escaped by %)
        return rv % variables

    @pass_context
    def ngettext(context, singular, plural, num, **variables):
        variables.setdefault("num", num)
        rv = ungettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704  (our own catalogue, as Jinja does; the variables are escaped by %)
        return rv % variables

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


def day_and_month(day: date) -> str:
    """A chart's day label, "4 дек." / "4 Dec": Babel's ``d MMM`` without formatting a date per point
    (60 µs each, thirty per chart); the same names, from the locale's own abbreviations."""
    locale = get_locale()
    if locale is None:  # outside a request: the default language's names
        locale = Locale.parse(current_app.config["BABEL_DEFAULT_LOCALE"])
    return f"{day.day} {locale.months['format']['abbreviated'][day.month]}"
