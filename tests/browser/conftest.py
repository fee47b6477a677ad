"""The whole system, live, for the browser journeys (Playwright driving Debian's Chromium).

One live system per session, as `make run` wires it (bin/run_dev.py), all on
free loopback ports inside this process:

* the web app on a threaded werkzeug server, its ``PUBLIC_BASE_URL`` pointing
  at itself so the sandbox providers' notifications arrive;
* the sandbox room (with its seller page), the sandbox providers (with their
  hosted pay pages) and the sandbox Telegram bot (its webhook set to the app, as
  ``flask telegram set-webhook`` does), each on a server of its own;
* the push process the invoice pages listen to (tests/push_server.py), as
  ``PUSH_URL`` tells the pages;
* an RQ worker (``SimpleWorker`` in a thread) on the test Redis database, and a
  ticker standing in for the cron scheduler: it queues the room-feed poll every
  second (production: every 5 s).  The invoice sweeper is not ticked: journeys
  that need it queue it themselves, so a settled invoice proves the provider's
  notification arrived rather than a poll.

The browser run uses SQLite only: the journeys test the pages and the wiring
between the parts, not the engine; both engines are covered by the service and
web tests below these.  Journeys share the database and tell their data apart
by fresh users; after each journey its sellers' open requests are cancelled so
the next journey's buyer is matched with its own seller.

The worker and the ticker run only while a browser test runs: other tests use
the same Redis database and queue, and their jobs are not ours to take.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.helpers import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
README_SHOTS = ROOT / "test-artifacts" / "readme"
PLATFORM = "pokerpay@pokerok.example"
ROOM_TOKEN = "browser-room-token"

#: viewports the journeys run in
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
              "has_touch": True},
}

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - requirements.txt pins it
    sync_playwright = None
    Watch = None
else:
    from tests.browser.checks import Watch
    #: one budget for actions and assertions; a slow shared CI machine gets more with BROWSER_TIMEOUT_MS
    TIMEOUT_MS = float(os.environ.get("BROWSER_TIMEOUT_MS", "10000"))
    expect.set_options(timeout=TIMEOUT_MS)


def _why_no_browser() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install -r requirements.txt)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)"
    return None


def pytest_collection_modifyitems(config, items):
    why = _why_no_browser()
    if why is None:
        return
    skip = pytest.mark.skip(reason=f"browser tests skipped: {why}")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


_written_screenshots: list[Path] = []


def pytest_terminal_summary(terminalreporter):
    if _written_screenshots:
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(f"{len(_written_screenshots)} screenshots in {SCREENSHOTS}")
        from tests.browser.checks import KNOWN_PHONE_OVERFLOW, tolerated

        terminalreporter.write_sep("-", "known app bugs the browser journeys tolerate (fix, then delete the entry)")
        for selector, why in KNOWN_PHONE_OVERFLOW.items():
            seen = ", ".join(sorted(tolerated.get(selector, ()))) or "not seen this run: delete the entry?"
            terminalreporter.write_line(f"phone overflow at {selector}: {why} [{seen}]")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember whether the test body failed, for the ``browsing`` fixture's failure screenshots."""
    report = yield
    if report.when == "call":
        item.browser_failed = report.failed
    return report


# -- the live system --------------------------------------------------------------------------


class _Forward:
    """A WSGI app forwarding to the one set later: the server's port must be known to build the app."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


class _Background:
    """The RQ worker and the cron ticker, in threads, switched on only during a browser test."""

    def __init__(self, app, redis_url: str):
        import redis

        self.app = app
        self.connection = redis.Redis.from_url(redis_url)
        self.on = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self.stopped = threading.Event()
        self.ticking = threading.Lock()  # a tick never lands after pause() has begun draining
        self.threads = [threading.Thread(target=self._work, name="browser-rq-worker", daemon=True),
                        threading.Thread(target=self._tick, name="browser-cron", daemon=True)]
        for thread in self.threads:
            thread.start()

    def _work(self):
        from rq import Queue, SimpleWorker
        from rq.timeouts import TimerDeathPenalty

        class ThreadWorker(SimpleWorker):
            """Runs jobs in this thread; signals belong to the main thread, so no handlers and timer timeouts."""

            death_penalty_class = TimerDeathPenalty

            def _install_signal_handlers(self):
                pass

        queue = Queue("default", connection=self.connection)
        drained = True
        with self.app.app_context():  # app_for_jobs() finds the live app, not one built from the environment
            while not self.stopped.is_set():
                running = self.on.is_set()
                if not running and drained:
                    self.idle.set()
                    self.on.wait(0.1)
                    continue
                self.idle.clear()
                # A burst only when there is work: starting a worker costs more than asking the queue's length.
                if queue.count or not running:
                    try:
                        ThreadWorker([queue], connection=self.connection).work(burst=True, logging_level="WARNING")
                    except Exception:  # noqa: BLE001 - a worker crash must not end the session's worker
                        logging.getLogger(__name__).exception("browser worker loop")
                drained = not running  # paused: one last burst finishes what the journey queued
                time.sleep(0.05)

    def _tick(self):
        from rq import Queue

        queue = Queue("default", connection=self.connection)
        while not self.stopped.wait(1.0):
            with self.ticking:
                if self.on.is_set():
                    queue.enqueue("app.jobs.room.poll_room_feed")

    def enqueue(self, dotted: str, *args):
        from rq import Queue

        return Queue("default", connection=self.connection).enqueue(dotted, *args)

    def start(self):
        self.on.set()

    def pause(self):
        """Stop ticking; the worker runs what is queued, then waits (nothing is left for other tests' workers)."""
        with self.ticking:
            self.on.clear()
            self.idle.clear()
        # Until it is idle: a burst still running when the next test (in this process, sharing this Redis
        # database) queues its own job would take that job and run it in the live app, not the test's.
        if not self.idle.wait(120):
            raise RuntimeError("the browser tests' RQ worker did not finish its last burst in 120 s")

    def stop(self):
        self.pause()
        self.stopped.set()
        for thread in self.threads:
            thread.join(5)


@dataclass
class Live:
    """The running system: URLs, the app (for setting up data in a context) and the background."""

    url: str
    room_url: str
    providers_url: str
    app: object
    background: _Background
    #: the sandbox Telegram bot (tests.sandboxes.TelegramControl); its webhook points at the app
    telegram: object = None
    #: the push process (tests.push_server.PushServer) the invoice pages listen to
    push: object = None
    http: requests.Session = field(default_factory=requests.Session)

    def provider_account(self, kind: str) -> dict:
        """Credentials of a fresh wallet / shop / terminal in the providers' sandbox."""
        response = self.http.post(f"{self.providers_url}/_sandbox/providers/{kind}/accounts", json={}, timeout=5)
        response.raise_for_status()
        return response.json()["credentials"]

    @contextlib.contextmanager
    def context(self):
        from app.extensions import db

        with self.app.app_context():
            try:
                yield
                db.session.commit()
            finally:
                db.session.remove()


@pytest.fixture(scope="session")
def live(tmp_path_factory, redis_url):
    """The app, the sandbox room and providers, an RQ worker, on free loopback ports (SQLite)."""
    why = _why_no_browser()
    if why:
        pytest.skip(why)
    import redis

    from app import create_app
    from app.extensions import db
    from config import TestingConfig
    from sandbox.providers import create_providers_app
    from sandbox.room import create_room_app
    from sandbox.server import serve
    from sandbox.telegram import create_telegram_app
    from tests.conftest import _migrate
    from tests.push_server import PushServer, free_port
    from tests.sandboxes import BOT_TOKEN, BOT_USERNAME, TelegramControl

    redis.Redis.from_url(redis_url).flushdb()
    access_log = logging.getLogger("werkzeug")  # one line per poll would bury a failure's report
    access_level = access_log.level
    access_log.setLevel(logging.WARNING)
    database = f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'live.db'}"
    _migrate(database, redis_url)
    room = serve(create_room_app(platform_account=PLATFORM, api_token=ROOM_TOKEN, seed=11))
    providers = serve(create_providers_app(seed=5))
    bot = serve(create_telegram_app(BOT_TOKEN, BOT_USERNAME, seed=9))
    forward = _Forward()
    web = serve(forward)
    push_port = free_port()
    base = providers.url
    app = create_app(
        TestingConfig,
        TESTING=False,  # errors go through the app's own handlers, as in production
        SERVER_NAME=None,
        SQLALCHEMY_DATABASE_URI=database,
        REDIS_URL=redis_url,
        PUBLIC_BASE_URL=web.url,
        ROOM_CONNECTOR="sandbox", ROOM_API_URL=room.url, ROOM_API_TOKEN=ROOM_TOKEN, ROOM_PLATFORM_ACCOUNT=PLATFORM,
        YOOMONEY_BASE_URL=f"{base}/yoomoney", YOOMONEY_QUICKPAY_URL=f"{base}/yoomoney/quickpay/confirm",
        YOOKASSA_BASE_URL=f"{base}/yookassa/v3", TBANK_BASE_URL=f"{base}/tbank/v2",
        YOOKASSA_NOTIFY_IPS=["127.0.0.1/32"], PROVIDER_READ_TIMEOUT=3.0, PROVIDER_RETRIES=0,
        LOGIN_RATE_LIMIT="1000 per minute",
        TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=bot.url, TELEGRAM_UPDATES="webhook",
        TELEGRAM_WEBHOOK_SECRET="browser-webhook-secret",
        PUSH_URL=f"http://127.0.0.1:{push_port}",
    )
    forward.app = app
    push = PushServer(app, push_port).start()
    telegram = TelegramControl(bot.url)
    assert telegram.api("setWebhook", url=f"{web.url}/telegram/webhook", secret_token="browser-webhook-secret")["ok"]
    background = _Background(app, redis_url)
    running = Live(url=web.url, room_url=room.url, providers_url=providers.url, app=app, background=background,
                   telegram=telegram, push=push)
    yield running
    push.stop()
    background.stop()
    running.http.close()
    telegram.http.close()
    for server in (web, room, providers, bot):
        server.stop()
    with app.app_context():
        db.engine.dispose()
    access_log.setLevel(access_level)


@pytest.fixture
def system(live):
    """The live system with its worker running for this test; afterwards sellers' open requests are cancelled."""
    live.background.start()
    yield live
    live.background.pause()
    _cancel_open_requests(live)


def _cancel_open_requests(live: Live) -> None:
    import sqlalchemy as sa

    from app.extensions import db
    from app.market import withdrawals
    from app.models import User
    from app.models.market import WithdrawalRequest

    with live.context():
        rows = db.session.execute(sa.select(WithdrawalRequest.id, WithdrawalRequest.seller_id)
                                  .where(WithdrawalRequest.status.in_(["active", "paused"]))).all()
        for request_id, seller_id in rows:
            withdrawals.cancel(db.session.get(User, seller_id), request_id)


# -- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    why = _why_no_browser()
    if why:
        pytest.skip(why)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


class Shots:
    """Full-page screenshots into test-artifacts/screenshots/<journey>/<variant>-NN-<name>.png.

    ``readme="name"`` also saves what the viewport shows (the page's top, desktop or phone size) as
    test-artifacts/readme/<name>.png: the README's pictures, copied to docs/screenshots/ by `make screenshots`.
    """

    def __init__(self, journey: str, variant: str):
        self.folder = SCREENSHOTS / journey
        self.folder.mkdir(parents=True, exist_ok=True)
        self.variant = variant
        self.count = 0
        for old in [*self.folder.glob(f"{variant}-*.png"), *self.folder.glob(f"{variant}-FAILED-*.html")]:
            old.unlink()

    def __call__(self, page, name: str, readme: str | None = None) -> Path:
        self.count += 1
        path = self.folder / f"{self.variant}-{self.count:02d}-{name}.png"
        # caret="initial": hiding the caret injects a style that htmx's settle then copies, which the
        # CSP (style-src 'self') rightly blocks; the journeys fail on CSP reports, so leave the caret be.
        page.screenshot(path=str(path), full_page=True, caret="initial")
        _written_screenshots.append(path)
        if readme:
            README_SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(README_SHOTS / f"{readme}.png"), caret="initial")
        return path


@dataclass
class Browsing:
    """One journey's browser: a context in a viewport, its first page, its language and its screenshots.

    Its pages are checked pages (tests/browser/checks.py): every step ends with the journey's check.
    """

    context: object
    page: object
    lang: str
    viewport: str
    shot: Shots
    watch: Watch

    def new_page(self):
        return self.watch.page(self.context.new_page())


@pytest.fixture
def browsing(request, chromium, system):
    """A fresh browser context for ``(journey, lang, viewport)`` given by the test's ``variant`` parameter."""
    lang, viewport = request.param if hasattr(request, "param") else ("ru", "desktop")
    yield from _browsing(request, chromium, system, lang, viewport, request.node.originalname.removeprefix("test_"))


@pytest.fixture
def second_browser(request, chromium, system):
    """Another person's browser beside the journey's (ops deciding a buyer's dispute): ``(lang, viewport)``."""
    made = []

    def make(lang: str, viewport: str) -> Browsing:
        journey = request.node.originalname.removeprefix("test_") + "-second"
        generator = _browsing(request, chromium, system, lang, viewport, journey)
        made.append(generator)
        return next(generator)

    yield make
    for generator in made:
        with contextlib.suppress(StopIteration):
            next(generator)


def _browsing(request, chromium, system, lang: str, viewport: str, journey: str):
    context = chromium.new_context(locale="ru-RU" if lang == "ru" else "en-US", **VIEWPORTS[viewport])
    context.set_default_timeout(TIMEOUT_MS)
    watch = Watch(context, system.url, phone=viewport == "phone")
    browsing = Browsing(context, watch.page(context.new_page()), lang, viewport, Shots(journey, f"{lang}-{viewport}"),
                        watch)
    try:
        yield browsing
        if getattr(request.node, "browser_failed", False):
            for number, open_page in enumerate(context.pages):
                with contextlib.suppress(Exception):
                    browsing.shot(open_page, f"FAILED-tab{number}")
                    (browsing.shot.folder / f"{browsing.shot.variant}-FAILED-tab{number}.html").write_text(
                        open_page.content(), encoding="utf-8")
        else:
            watch.finish()
    finally:
        context.close()


@pytest.fixture
def make_user(system):
    """Create a user (committed) with a fresh e-mail; returns its e-mail."""
    from tests.helpers import gen_user

    def make(prefix: str, lang: str = "ru") -> str:
        email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
        with system.context():
            gen_user(email, password=PASSWORD, locale=lang)
        return email

    return make
