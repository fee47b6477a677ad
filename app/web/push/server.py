"""The push process: server-sent events telling each watching buyer's page when its invoice changed.

    python push.py [--host 127.0.0.1] [--port 5002]

Why a process of its own: a watching buyer holds a connection open for
minutes, and the web app's gunicorn workers are threads (gthread: one request,
one thread), so a few thousand idle connections would take every thread it has.
Here each is a few kilobytes in one asyncio event loop (aiohttp), and the
database is read once per tick for all of them, not once per buyer per poll.

``GET /push/deposits/<id>?v=<fingerprint>`` (an ``EventSource`` of the invoice
page, ``app/static/js/app.js``):

* the session cookie must be valid and be the deposit owner's live session —
  the fast poll's own check (401 without one, 404 for anyone else's deposit,
  which is what the app answers);
* the ``Origin``, when the browser sends one, must be the app's own
  (``PUBLIC_BASE_URL``; 403 otherwise), and the answer allows exactly it with
  credentials (CORS), for a push server on its own host or port;
* at most ``PUSH_WATCHERS_PER_USER`` connections of one user and
  ``PUSH_MAX_WATCHERS`` in all (429 / 503);
* then a stream: ``retry: 1500`` (the browser reconnects after the poll
  interval), a comment every 20 s to keep proxies from closing it, and one
  event, ``changed`` or ``gone`` (:mod:`app.web.push.watchers`), after which the
  server closes it.  An event carries no status: the page fetches the fragment
  through the app, which checks the session again.

Every ``PUSH_TICK_SECONDS`` (0.5) one statement reads all watched deposits with
their owners' sessions; a change is on the page within a tick plus one request.
If this process is down or a connection drops, the page polls as it did before
push existed (the poll interval, 1.5 s), so nothing is ever staler than the poll.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from urllib.parse import urlsplit

from aiohttp import web

from app.web.push.feed import Feed
from app.web.push.watchers import DROP, Full, Registry, Watcher

log = logging.getLogger(__name__)

_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
#: a comment line this often keeps an idle stream open through proxies and finds closed ones
HEARTBEAT_SECONDS = 20.0
#: how long the browser waits before reconnecting a dropped stream: the poll interval
RETRY_MS = 1500
FEED_KEY = web.AppKey("feed", Feed)
REGISTRY_KEY = web.AppKey("registry", Registry)
ORIGIN_KEY = web.AppKey("origin", str)
TICK_KEY = web.AppKey("tick_seconds", float)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def make_app(flask_app, **settings) -> web.Application:
    """The aiohttp application over a Flask app's configuration and database; ``settings`` override its PUSH_*
    configuration (a test's short tick)."""
    config = {**flask_app.config, **settings}
    app = web.Application()
    app[FEED_KEY] = Feed(flask_app)
    app[REGISTRY_KEY] = Registry(per_user=int(config["PUSH_WATCHERS_PER_USER"]), total=int(config["PUSH_MAX_WATCHERS"]))
    app[ORIGIN_KEY] = _origin(config["PUBLIC_BASE_URL"])
    app[TICK_KEY] = float(config["PUSH_TICK_SECONDS"])
    app.router.add_get(r"/push/deposits/{deposit_id:[1-9][0-9]{0,17}}", watch)
    app.router.add_get("/push/health", health)
    app.cleanup_ctx.append(_ticking)
    return app


async def health(request: web.Request) -> web.Response:
    return web.json_response({"watchers": len(request.app[REGISTRY_KEY])})


def _refuse(status: int, reason: str, cors: dict) -> web.Response:
    return web.Response(status=status, text=reason + "\n", headers={**cors, "Cache-Control": "no-store"})


async def watch(request: web.Request) -> web.StreamResponse:
    app = request.app
    origin = request.headers.get("Origin")
    if origin is not None and origin != app[ORIGIN_KEY]:
        return _refuse(403, "push is for the app's own pages", {})
    cors = {"Access-Control-Allow-Origin": app[ORIGIN_KEY], "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin, Cookie"} if origin else {"Vary": "Cookie"}
    shown = request.query.get("v", "")
    if not _FINGERPRINT.fullmatch(shown) or set(request.query) != {"v"}:
        return _refuse(400, "v: the fingerprint the page shows (16 hex digits)", cors)
    environ = {"HTTP_COOKIE": request.headers.get("Cookie", ""), "REMOTE_ADDR": request.remote,
               "HTTP_USER_AGENT": request.headers.get("User-Agent")}
    if "X-Forwarded-For" in request.headers:
        environ["HTTP_X_FORWARDED_FOR"] = request.headers["X-Forwarded-For"]
    environ = {k: v for k, v in environ.items() if v is not None}
    feed = app[FEED_KEY]
    identity = feed.identity(environ)
    if identity is None:
        return _refuse(401, "sign in to watch an invoice", cors)
    deposit_id = int(request.match_info["deposit_id"])
    checked_at = time.monotonic()  # before the read: a tick that began after it sees at least as much
    try:
        found, version = await asyncio.to_thread(feed.glance, deposit_id, *identity)
    except Exception:  # noqa: BLE001 - the database is unreachable: the page polls (and gets the app's answer)
        log.warning("push: checking a page's deposit failed", exc_info=True)
        return _refuse(503, "push is unavailable just now; the page polls instead", cors)
    if found == "signed out":
        return _refuse(401, "sign in to watch an invoice", cors)
    if found != "ok":
        return _refuse(404, "no such invoice", cors)
    watcher = Watcher(deposit_id=deposit_id, user_id=identity[0], token=identity[1], shown=shown,
                      checked_at=checked_at)
    registry = app[REGISTRY_KEY]
    try:
        registry.add(watcher)
    except Full:
        busy = len(registry) >= registry.total
        return _refuse(503 if busy else 429, "too many open invoice pages; the page polls instead", cors)
    try:
        response = web.StreamResponse(headers={
            **cors, "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        if version != shown:
            watcher.tell("changed")  # it changed between the page's render and this connection
        while True:
            try:
                event = await asyncio.wait_for(watcher.events.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": still watching\n\n")
                continue
            if event != DROP:
                await response.write(f"event: {event}\ndata: {event}\n\n".encode())
            return response  # DROP: closed without an event, the browser polls and reconnects
    finally:
        registry.remove(watcher)


async def _ticking(app: web.Application):
    """The tick: every watched deposit read in one statement, each watcher told what changed for them."""
    task = asyncio.create_task(_tick_forever(app))
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    app[FEED_KEY].close()


async def _tick_forever(app: web.Application) -> None:
    from app.web.deposits.fast_poll import version_of

    registry, feed = app[REGISTRY_KEY], app[FEED_KEY]
    while True:
        await asyncio.sleep(app[TICK_KEY])
        ids = registry.deposit_ids()
        if not ids:
            continue
        read_at = time.monotonic()
        try:
            rows = await asyncio.to_thread(feed.rows, ids)
        except Exception:  # noqa: BLE001 - see below
            # Unread, a page would wait for an event that cannot come while its poll is off: every stream is
            # closed, so each page polls at once and reconnects after the retry interval.
            log.warning("push tick: reading %d watched deposits failed; every stream dropped", len(ids),
                        exc_info=True)
            for watcher in registry.watchers():
                watcher.tell(DROP)
            continue
        for watcher, event in registry.verdicts(ids, rows, version_of, read_at):
            watcher.tell(event)


def serve(flask_app, host: str, port: int) -> None:
    """Run the push process until it is stopped (``push.py``, the entry point, builds the Flask app)."""
    # handler_cancellation: a page closed ends its watcher at once, not at the next heartbeat
    web.run_app(make_app(flask_app), host=host, port=port, access_log=None, handler_cancellation=True,
                print=lambda text: log.info("%s", text))
