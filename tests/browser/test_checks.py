"""The journeys' check bites: each thing a person would notice, put on a real page of the app, fails it.

The journeys pass only because the product is right, so this shows, on the live app in Chromium, that the
check (tests/browser/checks.py) does fail on each kind of trouble it is there for.  Each trouble is made by
hand in the page (the real causes, a boosted pay link or a nested fragment, were re-broken once by hand and
the journeys failed; see the report of issue #17).
"""
from __future__ import annotations

import time

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")

from tests.browser.checks import JourneyProblem, unwrap  # noqa: E402
from tests.browser.pages import Text, open_first_page  # noqa: E402

pytestmark = pytest.mark.browser


def fails_with(watch, page, needle: str) -> str:
    """The check's failure (events reach Python a moment after the page makes them: give them a second)."""
    deadline = time.monotonic() + 2
    while True:
        try:
            watch.check(page, "the trouble made by hand")
        except JourneyProblem as problem:
            assert needle in str(problem), problem
            return str(problem)
        assert time.monotonic() < deadline, f"the check did not notice: {needle}"
        time.sleep(0.1)


@pytest.mark.parametrize("browsing", [("ru", "phone")], indirect=True, ids=["ru-phone"])
def test_the_check_fails_on_what_a_person_would_notice(browsing, system):
    b = browsing
    open_first_page(b.page, system.url, Text(b.lang))
    page, watch = unwrap(b.page), b.watch
    watch.check(page, "opening the home page")  # the page as served passes

    # a whole page swapped into a card: the document's own header, main navigation, main and footer again
    page.evaluate("""() => {
        const nested = document.createElement("div");
        nested.id = "nested-by-hand";
        nested.innerHTML = document.body.innerHTML;
        document.querySelector("main").append(nested);
    }""")
    found = fails_with(watch, page, "a page is nested inside the page")
    assert "2 <main> elements" in found and "2 main navigations (1 inside <main>)" in found, found
    page.evaluate("document.getElementById('nested-by-hand').remove()")

    # a link htmx refused to follow (what the boosted pay link to the provider's site did)
    page.evaluate("""document.querySelector("header a").dispatchEvent(
        new CustomEvent("htmx:invalidPath", {bubbles: true, detail: {path: "https://provider.example/pay"}}))""")
    fails_with(watch, page, 'htmx:invalidPath on a "PokerPay" for https://provider.example/pay')

    page.evaluate("console.error('something broke')")
    fails_with(watch, page, "console error on")

    page.evaluate("() => { setTimeout(() => { throw new Error('a script failed'); }, 0); }")
    fails_with(watch, page, "script error on")

    # something wider than the phone
    page.evaluate("""() => {
        const wide = document.createElement("div");
        wide.id = "wide-by-hand";
        wide.style.width = "900px";
        wide.textContent = "wide";
        document.querySelector("main").append(wide);
    }""")
    fails_with(watch, page, "scrolls sideways on a phone")
    page.evaluate("document.getElementById('wide-by-hand').remove()")
    watch.check(page, "undoing the troubles")  # and nothing is left over for the journey's end
