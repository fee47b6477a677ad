"""What a person would notice, checked after every step of a browser journey.

A journey fails at the first step after which any of these is true:

* the browser logged a console error or a script error (any page, any origin);
* htmx reported an error event (``htmx:invalidPath`` for a link htmx refused to
  follow, ``htmx:responseError``, ``htmx:swapError``…), recorded by a script
  installed in every page before the page's own scripts;
* any response was a 5xx;
* the app's page holds a nested page: a second ``<main>``, a second page header
  or main navigation, or a page header inside ``<main>`` (what a fragment that
  swapped a whole page into a card looks like);
* on a phone, the app's page is wider than the viewport (sideways scrolling).

The checks are not sprinkled through the journeys: ``Checked`` wraps the
Playwright page and every locator made from it, so each click, fill, check,
selection and navigation ends with ``Watch.check``; ``expect`` (use this one,
not Playwright's) runs it after every assertion too, which catches what a live
(polled) part of the page did between two actions.
"""
from __future__ import annotations

import contextlib
import json
import time
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page
from playwright.sync_api import expect as playwright_expect

#: the htmx events that mean a person's click or a live update did not happen
HTMX_ERRORS = ("htmx:responseError", "htmx:sendError", "htmx:swapError", "htmx:targetError", "htmx:invalidPath",
               "htmx:onLoadError", "htmx:oobErrorNoTarget", "htmx:historyCacheError")

#: installed in every page of the context before its own scripts; reports to Python at once (a window array
#: would be lost when the event's page navigates away, as a refused pay link's page does)
INIT_SCRIPT = """
(() => {
  const names = __NAMES__;
  window.__journeyHtmxErrors = [];
  const describe = (el) => {
    if (!el || !el.tagName) return String(el);
    const id = el.id ? "#" + el.id : "";
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 60);
    return el.tagName.toLowerCase() + id + (text ? ` "${text}"` : "");
  };
  for (const name of names) {
    document.addEventListener(name, (event) => {
      const d = event.detail || {};
      const path = d.path || (d.requestConfig && d.requestConfig.path) || "";
      const status = d.xhr && d.xhr.status ? ` (HTTP ${d.xhr.status})` : "";
      const entry = `${name} on ${describe(d.elt || event.target)}${path ? " for " + path : ""}${status}`;
      window.__journeyHtmxErrors.push(entry);
      if (window.__journeyReport) window.__journeyReport(entry);
    }, true);
  }
})();
""".replace("__NAMES__", json.dumps(HTMX_ERRORS))

#: the page's structure: a nested page (header, main navigation, main, footer twice), the widths, and whether
#: htmx has a request, swap or settle in flight (the step's own, or a poll's: short, so the check waits it out)
STRUCTURE = """
() => {
  const outsideArticles = (selector) => [...document.querySelectorAll(selector)].filter((el) => !el.closest("article"));
  const headers = outsideArticles("header");
  const mainNav = document.querySelector("body > header nav");
  const label = mainNav && mainNav.getAttribute("aria-label");
  const mainNavs = label ? [...document.querySelectorAll("nav")].filter((n) => n.getAttribute("aria-label") === label) : [];
  return {
    mains: document.querySelectorAll("main").length,
    headers: headers.length,
    headersInMain: headers.filter((h) => h.closest("main")).length,
    mainNavs: mainNavs.length,
    mainNavsInMain: mainNavs.filter((n) => n.closest("main")).length,
    footers: outsideArticles("footer").length,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    busy: !!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling"),
  };
}
"""

#: what sticks out past the screen's right edge (its box, or content that does not wrap): the innermost such
#: elements, each with the known-bug selector (below) it matches, if any
TOO_WIDE = """
([width, known]) => {
  const scrolledInside = (el) => {  // inside a scrolling box that itself fits: it scrolls there, not the page
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible" && up.getBoundingClientRect().right <= width + 1) return true;
    }
    return false;
  };
  const sticksOut = (el) => {
    const box = el.getBoundingClientRect();
    const spills = el instanceof HTMLElement && getComputedStyle(el).overflowX === "visible";  // unwrapped text
    const content = spills ? box.left + el.scrollWidth : box.right;
    return (box.right > width + 1 || content > width + 1) && !scrolledInside(el);
  };
  const out = [...document.querySelectorAll("body *")].filter(sticksOut);
  const innermost = out.filter((el) => !out.some((other) => other !== el && el.contains(other)));
  return innermost.map((el) => {
    const box = el.getBoundingClientRect();
    const cls = el.classList.length ? "." + [...el.classList].join(".") : "";
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    return {
      what: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${cls} "${text}" ` +
            `(box ${Math.round(box.left)}-${Math.round(box.right)}px, content ${el.scrollWidth}px)`,
      known: known.find((selector) => el.matches(selector)) || null,
    };
  });
}
"""

#: App bugs that make a phone page too wide, found by these journeys and reported, tolerated (only these
#: elements, nothing else on the page) until the styles are fixed; each sighting is listed in the test summary
#: and a selector no run meets any more is named there too, to be deleted.
KNOWN_PHONE_OVERFLOW: dict[str, str] = {}  # selector -> why it is tolerated (none today: keep it so)
#: selector -> the pages it was tolerated on, this session
tolerated: dict[str, set[str]] = {}

#: the Playwright calls that are a person's step (the check runs after each)
STEPS = frozenset({"click", "dblclick", "tap", "fill", "type", "press", "press_sequentially", "check", "uncheck",
                   "set_checked", "select_option", "set_input_files", "goto", "reload", "go_back", "go_forward"})


class JourneyProblem(AssertionError):
    """What a person would have noticed at a step."""


class Watch:
    """One browser context's listeners and the check; ``app_url`` marks the app's own pages."""

    def __init__(self, context, app_url: str, phone: bool):
        self.context = context
        self.app_origin = _origin(app_url)
        self.phone = phone
        self.problems: list[str] = []
        #: URL prefixes whose failures a journey provokes on purpose (:meth:`tolerating`)
        self._tolerated: list[str] = []
        context.expose_binding("__journeyReport", lambda source, entry: self.problems.append(
            f"{entry} on {source['frame'].url}"))
        context.add_init_script(INIT_SCRIPT)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"script error on {_url_of(error.page)}: "
                                                                  f"{error.error}"))
        context.on("response", lambda r: self.problems.append(f"HTTP {r.status} for {r.request.method} {r.url}")
                   if r.status >= 500 else None)
        context.on("dialog", lambda dialog: dialog.accept())  # "Cancel this invoice?": a person says yes

    def _console(self, message) -> None:
        if message.type != "error":
            return
        where = message.location.get("url") or _url_of(message.page)
        if any(where.startswith(prefix) for prefix in self._tolerated):
            return
        if where.endswith("/favicon.ico") and _origin(where) != self.app_origin:
            return  # the sandbox room and providers have no icon; the browser asks for one anyway
        self.problems.append(f"console error on {_url_of(message.page)} (from {where}): {message.text[:300]}")

    @contextlib.contextmanager
    def tolerating(self, url_prefix: str):
        """Inside the block, failed loads from ``url_prefix`` are what the journey does on purpose (a server it
        stopped), not a problem; nothing else is excused."""
        self._tolerated.append(url_prefix)
        try:
            yield
        finally:
            self._tolerated.remove(url_prefix)

    def page(self, page: Page) -> Checked:
        return Checked(page, self, page)

    def check(self, page: Page, step: str) -> None:
        """Fail with what went wrong at ``step``; waits for htmx to finish what the step started."""
        if page.is_closed():
            self._raise_collected(step)
            return
        shape = self._structure(page)
        self._raise_collected(step)
        if shape is None or _origin(page.url) != self.app_origin:
            return  # the provider's or the room's page: only errors count there
        found = []
        if shape["mains"] > 1:
            found.append(f"{shape['mains']} <main> elements")
        if shape["headers"] > 1 or shape["headersInMain"]:
            found.append(f"{shape['headers']} page <header>s ({shape['headersInMain']} inside <main>)")
        if shape["mainNavs"] > 1 or shape["mainNavsInMain"]:
            found.append(f"{shape['mainNavs']} main navigations ({shape['mainNavsInMain']} inside <main>)")
        if shape["footers"] > 1:
            found.append(f"{shape['footers']} page <footer>s")
        if found:
            raise JourneyProblem(f"after {step}: a page is nested inside the page at {page.url}: {', '.join(found)}")
        # Against the phone's own width: a mobile browser zooms out to fit wider content, and then
        # window.innerWidth grows with it (scrollWidth > innerWidth never fires on an emulated phone).
        width = page.viewport_size["width"]
        if self.phone and shape["scrollWidth"] > width:
            culprits = page.evaluate(TOO_WIDE, [width, list(KNOWN_PHONE_OVERFLOW)])
            if culprits and all(c["known"] for c in culprits):
                for culprit in culprits:
                    tolerated.setdefault(culprit["known"], set()).add(urlsplit(page.url).path)
                return
            raise JourneyProblem(f"after {step}: the page scrolls sideways on a phone at {page.url}: "
                                 f"{shape['scrollWidth']}px wide on a {width}px screen "
                                 f"(window.innerWidth {shape['innerWidth']}px); sticking out: "
                                 + "; ".join(c["what"] for c in culprits if not c["known"])[:1500])

    def _structure(self, page: Page, busy_for: float = 3.0) -> dict | None:
        """The page's shape once htmx is idle.  Polled from here: ``wait_for_function`` evals a string in the
        page, which the app's CSP rightly refuses; under continual polling, look anyway after ``busy_for``."""
        start = time.monotonic()
        while True:
            try:
                page.wait_for_load_state("domcontentloaded")
                shape = page.evaluate(STRUCTURE)
            except PlaywrightError as error:  # a navigation replaced the document mid-look: look at the new one
                if page.is_closed():
                    return None
                if time.monotonic() - start > 10:
                    raise JourneyProblem(f"could not look at {page.url}: {error}") from error
                time.sleep(0.1)
                continue
            if not shape["busy"] or time.monotonic() - start > busy_for:
                return shape
            time.sleep(0.05)

    def _raise_collected(self, step: str) -> None:
        if self.problems:
            problems, self.problems = self.problems, []
            raise JourneyProblem(f"after {step}: " + "; ".join(problems))

    def finish(self) -> None:
        """What arrived after the last step (a console error from the last poll, say)."""
        self._raise_collected("the last step")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _url_of(page) -> str:
    return page.url if page is not None else "?"


def unwrap(value):
    return value._target if isinstance(value, Checked) else value


class Checked:
    """A Playwright page or locator whose steps end with the journey's check (see the module's docstring)."""

    __slots__ = ("_target", "_watch", "_page")

    def __init__(self, target, watch: Watch, page: Page):
        self._target = target
        self._watch = watch
        self._page = page

    def _wrap(self, value):
        if isinstance(value, (Locator, Page)):
            return Checked(value, self._watch, value if isinstance(value, Page) else self._page)
        return value

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if not callable(value):
            return self._wrap(value)

        def call(*args, **kwargs):
            result = value(*(unwrap(a) for a in args), **{k: unwrap(v) for k, v in kwargs.items()})
            if name in STEPS:
                self._watch.check(self._page, f"{name} on {self._describe()}")
            return self._wrap(result)

        return call

    def _describe(self) -> str:
        if isinstance(self._target, Page):
            return f"the page {self._target.url}"
        return str(self._target).removeprefix("<Locator frame=").split(" selector=", 1)[-1].rstrip(">")

    def __repr__(self) -> str:
        return f"Checked({self._target!r})"


class _CheckedAssertions:
    """Playwright's assertions for a checked page or locator; each passing assertion is followed by the check."""

    def __init__(self, assertions, subject: Checked | None):
        self._assertions = assertions
        self._subject = subject

    def __getattr__(self, name: str):
        value = getattr(self._assertions, name)
        if name == "not_":
            return _CheckedAssertions(value, self._subject)
        if not callable(value) or self._subject is None:
            return value

        def call(*args, **kwargs):
            result = value(*(unwrap(a) for a in args), **kwargs)
            self._subject._watch.check(self._subject._page, f"expecting {self._subject._describe()} {name}")
            return result

        return call


def expect(actual, message: str | None = None) -> _CheckedAssertions:
    """Playwright's ``expect`` that takes checked pages and locators and checks the page after each assertion."""
    subject = actual if isinstance(actual, Checked) else None
    return _CheckedAssertions(playwright_expect(unwrap(actual), message), subject)


expect.set_options = playwright_expect.set_options
