"""Security headers and the CSP on every page; nothing inline that the CSP would have to allow.

The CSP is ``script-src 'self'; style-src 'self'`` without 'unsafe-inline': an inline script,
event-handler attribute, ``javascript:`` URL or ``style`` attribute would be blocked in the
browser (and would be a hole if the CSP were loosened for it).  The templates are scanned as
source, and every GET page of the access table is scanned as rendered, for each actor who may see it.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.security import access_table as table
from tests.security.conftest import build_world, sign_in

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"
REQUIRED_CSP = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "object-src": "'none'",
    "frame-ancestors": "'none'", "base-uri": "'self'",
}


class _InlineFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if not attrs.get("src"):
                self.problems.append("inline <script>")
            self._in_script = True
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name == "style":
                self.problems.append(f"<{tag} style=…>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "style":
            self.problems.append("inline <style>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


class _LeavingLinks(HTMLParser):
    """Links and forms that leave the site: boosted, htmx refuses them (htmx:invalidPath) and they do nothing."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        target = attrs.get("href") if tag == "a" else attrs.get("action") if tag == "form" else None
        if target and re.match(r"(?i)^([a-z][a-z0-9+.-]*:|//)", target.strip()) and attrs.get("hx-boost") != "false":
            if not target.lower().startswith(("mailto:", "tel:")):
                self.problems.append(f"<{tag}> to {target[:60]} without hx-boost=\"false\"")


def leaving_links_problems(html: str) -> list[str]:
    finder = _LeavingLinks()
    finder.feed(html)
    return finder.problems


def inline_problems(html: str) -> list[str]:
    finder = _InlineFinder()
    finder.feed(html)
    return finder.problems


#: what a served user file (dispute evidence) carries instead of the page policy: nothing allowed at all
FILE_CSP = {"default-src": "'none'", "sandbox": "", "frame-ancestors": "'none'"}


def check_headers(response) -> list[str]:
    problems = []
    csp = response.headers.get("Content-Security-Policy", "")
    directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in csp.split(";") if part.strip())
    is_user_file = (response.headers.get("Content-Disposition", "").startswith("attachment")
                    and response.mimetype in ("image/png", "image/jpeg", "application/pdf"))
    for name, value in (FILE_CSP if is_user_file else REQUIRED_CSP).items():
        if directives.get(name, "").strip() != value:
            problems.append(f"CSP {name} is {directives.get(name)!r}, expected {value!r}")
    if "unsafe-inline" in csp or "unsafe-eval" in csp:
        problems.append("CSP allows unsafe-inline/unsafe-eval")
    expected = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
    for name, value in expected.items():
        if response.headers.get(name) != value:
            problems.append(f"{name} is {response.headers.get(name)!r}")
    return problems


@pytest.mark.parametrize("template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")))
def test_templates_have_nothing_inline(template):
    """Is each template free of inline scripts, event handlers, javascript: URLs and style attributes?"""
    source = (TEMPLATES / template).read_text()
    # Jinja expressions may sit inside attributes; blank them so the HTML parser sees plain markup.
    source = re.sub(r"{[{%#].*?[}%#]}", "x", source, flags=re.S)
    assert inline_problems(source) == []


@pytest.mark.server_errors_expected  # /_pages-boom: the 500 page must carry the headers too
def test_every_page_has_the_headers_and_nothing_inline(sec_app, providers):
    """Does every GET route, for every actor, carry the headers and render nothing inline?"""
    sec_app.add_url_rule("/_pages-boom", endpoint="pages_boom", view_func=lambda: 1 / 0)
    world = build_world(sec_app, providers)
    failures, pages = [], 0
    for actor in table.ACTORS:
        client = sec_app.test_client()
        client.environ_base["REMOTE_ADDR"] = "2001:db8::77"
        sign_in(sec_app, client, actor, world)
        urls = [route.url.format(**world.objects) for endpoint, route in table.ROUTES.items()
                if route.method == "GET" and endpoint not in ("static", "favicon")]
        urls += ["/no-such-page", "/_pages-boom", "/seller/api-forms/new?kind=tbank", "/buy/", "/seller/withdrawals",
                 "/account", "/login", "/register"]
        for url in urls:
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(url, headers=headers)
                if response.status_code in (301, 302, 303):
                    continue
                pages += 1
                problems = check_headers(response)
                if response.mimetype == "text/html":
                    html = response.get_data(as_text=True)
                    problems += inline_problems(html) + leaving_links_problems(html)
                response.close()  # a streamed download (the CSV export) ends its request context here
                failures += [f"{url} as {actor} {headers or ''} ({response.status_code}): {p}" for p in problems]
        # POST error pages too: the CSRF refusal
        response = client.post("/account", data={})
        failures += [f"CSRF error page as {actor}: {p}" for p in check_headers(response)]
    assert pages > 60
    assert not failures, "\n".join(failures)


def test_links_that_leave_the_site_are_not_boosted():
    """Does the checker catch a boosted link to a provider's pay page, and pass an unboosted one and local links?"""
    assert leaving_links_problems('<a href="https://pay.example/x">Pay</a>') != []
    assert leaving_links_problems('<form action="https://pay.example/x" method="post"></form>') != []
    assert leaving_links_problems('<a href="https://pay.example/x" hx-boost="false">Pay</a>') == []
    assert leaving_links_problems('<a href="/wallet/">Wallet</a><a href="mailto:help@example.com">Help</a>') == []


def test_only_hx_boost_is_inherited(client):
    """Is htmx told to inherit nothing but hx-boost?

    Otherwise a form inside a polling section takes the section's hx-target/hx-swap, and its boosted answer (a
    whole page) is swapped into the section: the invoice card once nested a page per click.
    """
    import json

    page = client.get("/login").get_data(as_text=True)
    config = json.loads(re.search(r'<meta name="htmx-config" content=\'([^\']+)\'', page).group(1))
    assert config["disableInheritance"] is True
    body = re.search(r"<body[^>]*>", page).group(0)
    assert 'hx-boost="true"' in body and 'hx-inherit="hx-boost"' in body
