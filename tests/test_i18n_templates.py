"""The templates' translation functions (``app.i18n.template_gettext``) and the charts' day labels say
exactly what Flask-Babel's own functions say, in both languages."""
from __future__ import annotations

from datetime import date

import pytest
from flask import render_template_string
from flask_babel import force_locale, format_date

from app import create_app
from app.i18n import day_and_month
from config import TestingConfig

TEMPLATE = ("{{ _('Wallet') }}|{{ _('Balance on %(first)s: %(start)s; on %(last)s: %(end)s; highest %(high)s, "
            "lowest %(low)s.', first='<b>', start=1, last=2, end=3, high=4, low=5) }}|"
            "{{ ngettext('%(num)d violation', '%(num)d violations', n) }}|{% trans %}Wallet{% endtrans %}")


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory):
    # no database or Redis is touched: only templates and catalogues
    url = f"sqlite:///{tmp_path_factory.mktemp('i18n') / 'unused.db'}"
    return create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url, REDIS_URL="redis://127.0.0.1:6379/15")


def _flask_babel_only(app, source: str, **values) -> str:
    """The same template rendered without the per-render functions: Flask-Babel's globals answer."""
    return app.jinja_env.from_string(source).render(**values)


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("n", [1, 3, 5, 21])
def test_the_per_render_functions_say_what_flask_babel_says(bare_app, lang, n):
    """Plain strings, variables (escaped), plurals and trans blocks: the same text either way."""
    with bare_app.test_request_context(f"/?lang={lang}"):
        fast = render_template_string(TEMPLATE, n=n)
        assert render_template_string("{{ _.__module__ }} {{ ngettext.__module__ }}") == "app.i18n app.i18n"
        slow = _flask_babel_only(bare_app, TEMPLATE, n=n)
    assert fast == slow
    assert "&lt;b&gt;" in fast and "<b>" not in fast
    assert fast.startswith("Кошелёк|" if lang == "ru" else "Wallet|")


def test_a_render_inside_force_locale_speaks_that_language(bare_app):
    with bare_app.test_request_context("/?lang=ru"):
        assert render_template_string("{{ _('Wallet') }}") == "Кошелёк"
        with force_locale("en"):
            assert render_template_string("{{ _('Wallet') }}") == "Wallet"
        assert render_template_string("{{ _('Wallet') }}") == "Кошелёк"


def test_a_plain_text_template_is_not_escaped(bare_app):
    """Autoescape off (a text template): the variables go in as they are, as with Flask-Babel."""
    source = "{% autoescape false %}{{ _('Balance on %(first)s: %(start)s; on %(last)s: %(end)s; highest " \
             "%(high)s, lowest %(low)s.', first='<b>', start=1, last=2, end=3, high=4, low=5) }}{% endautoescape %}"
    with bare_app.test_request_context("/?lang=en"):
        assert render_template_string(source).startswith("Balance on <b>: 1")


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_day_labels_are_babels_d_mmm(bare_app, lang):
    with bare_app.test_request_context(f"/?lang={lang}"):
        for month in range(1, 13):
            day = date(2026, month, 4 if month % 2 else 28)
            assert day_and_month(day) == format_date(day, "d MMM")
