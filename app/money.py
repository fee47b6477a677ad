"""Money as integers in minor units (cents, kopecks): strict parsing of what people type, and formatting.

Only ``int`` arithmetic happens here: no float, no Decimal, no ``round``.  An
amount a person typed is accepted only if it is unambiguous: ASCII digits,
an optional decimal part of one or two digits after ``.`` or ``,``, and
optional thousands groups separated by spaces ("1 000,50").  Signs, exponents,
"NaN", three decimals ("1.234"), mixed separators ("1,000.50"), digits from
other scripts and absurdly large values are refused with a message the form
can show.

Formatting follows each language's convention: Russian "1 000,50 $" (narrow
no-break space between thousands, no-break space before the sign), English
"$1,000.50".  The Jinja filters ``usd`` and ``rub`` use the request's locale.
"""
from __future__ import annotations

import re

from flask import Flask
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

#: the default upper bound for a typed amount, in minor units (one billion whole units)
DEFAULT_MAX_MINOR = 100_000_000_000
#: longer input is refused before any parsing
MAX_INPUT_LENGTH = 32

NARROW_NBSP = "\u202f"
NBSP = "\u00a0"
MINUS = "\u2212"

# Spaces people (and browsers, and copy-paste from banking apps) put between thousands.
_GROUP_SPACES = " \u00a0\u202f\u2009"
_AMOUNT_RE = re.compile(
    rf"(?P<whole>[0-9]{{1,3}}(?:[{_GROUP_SPACES}][0-9]{{3}})+|[0-9]+)"
    r"(?:[.,](?P<fraction>[0-9]{1,2}))?"
)


class AmountError(ValueError):
    """A typed amount that is not acceptable; ``str(error)`` is a translated, user-safe message."""

    def __init__(self, message):
        self.message = message
        super().__init__(message)


def parse_amount(text: str, *, max_minor: int = DEFAULT_MAX_MINOR) -> int:
    """Parse "12.34", "12,34", "1 000,50" into minor units (1234, 1234, 100050).

    Raises :class:`AmountError` for anything else, for zero, and above ``max_minor``.
    """
    if not isinstance(text, str):
        raise AmountError(_l("Enter an amount."))
    text = text.strip(_GROUP_SPACES + "\t\r\n")
    if not text:
        raise AmountError(_l("Enter an amount."))
    if len(text) > MAX_INPUT_LENGTH:
        raise AmountError(_l("The amount is too large."))
    match = _AMOUNT_RE.fullmatch(text)
    if match is None:
        raise AmountError(_l("Enter an amount like 12.34: digits, with at most two after the decimal point."))
    whole = int(re.sub(f"[{_GROUP_SPACES}]", "", match["whole"]))
    fraction = match["fraction"] or ""
    minor = whole * 100 + int(fraction.ljust(2, "0"))
    if minor == 0:
        raise AmountError(_l("The amount must be greater than zero."))
    if minor > max_minor:
        raise AmountError(_l("The amount is too large."))
    return minor


def _is_russian(locale) -> bool:
    language = getattr(locale, "language", None)  # a babel Locale (the request's), else a name: "ru", "en_US"
    if language is None:
        language = str(locale or "ru").lower().replace("-", "_").split("_")[0]
    return language == "ru"


def _current_locale():
    """The request's babel Locale ("ru" outside a request): a chart formats a hundred amounts per page."""
    try:
        return get_locale() or "ru"
    except RuntimeError:  # outside an app context
        return "ru"


def format_number(minor: int, locale=None) -> str:
    """Minor units as a number with two decimals in the locale's style: "1 000,50" / "1,000.50" (no sign)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"money is an int of minor units, not {type(minor).__name__}")
    whole, cents = divmod(abs(minor), 100)
    if _is_russian(locale if locale is not None else _current_locale()):
        return f"{whole:,}".replace(",", NARROW_NBSP) + f",{cents:02d}"
    return f"{whole:,}.{cents:02d}"


def _format(minor: int, symbol: str, locale) -> str:
    locale = locale if locale is not None else _current_locale()
    number = format_number(minor, locale)
    sign = MINUS if minor < 0 else ""
    if _is_russian(locale):
        return f"{sign}{number}{NBSP}{symbol}"
    return f"{sign}{symbol}{number}"


def format_usd(cents: int, locale=None) -> str:
    """Cents as dollars: ru "1 000,50 $", en "$1,000.50".  ``locale`` defaults to the current one."""
    return _format(cents, "$", locale)


def format_rub(kopecks: int, locale=None) -> str:
    """Kopecks as rubles: ru "1 000,50 ₽", en "₽1,000.50".  ``locale`` defaults to the current one."""
    return _format(kopecks, "₽", locale)


def init_app(app: Flask) -> None:
    """Register the Jinja filters ``usd`` and ``rub`` (current locale)."""
    app.add_template_filter(lambda cents: format_usd(cents), "usd")
    app.add_template_filter(lambda kopecks: format_rub(kopecks), "rub")
