"""The push process (app/web/push) served from a thread of the test process, on a free loopback port."""
from __future__ import annotations

import asyncio
import contextlib
import threading


@contextlib.contextmanager
def push_server(flask_app, **settings):
    """Serve the push app over ``flask_app`` until the block ends; yields its base URL.

    ``settings``: PUSH_* configuration for this server only (the tick, the caps)."""
    from aiohttp import web

    from app.web.push.server import make_app

    loop = asyncio.new_event_loop()
    ready, state = threading.Event(), {}

    def serve():
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(make_app(flask_app, **settings), handler_cancellation=True)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        state["port"] = runner.addresses[0][1]
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="push-server", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the push server did not start")
    try:
        yield f"http://127.0.0.1:{state['port']}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
