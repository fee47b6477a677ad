"""The push process (app/web/push) served from a thread of the test process, on a loopback port."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PushServer:
    """The push app over ``flask_app`` on ``port``; ``stop()`` drops every connection (as a crash would) and
    ``start()`` serves again on the same port.  ``settings``: PUSH_* configuration for this server only."""

    def __init__(self, flask_app, port: int | None = None, **settings) -> None:
        self.flask_app, self.settings = flask_app, settings
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = self._thread = None
        #: the aiohttp application being served (a test may reach into it)
        self.app = None

    def start(self) -> PushServer:
        from aiohttp import web

        from app.web.push.server import make_app

        loop = asyncio.new_event_loop()
        ready, failed = threading.Event(), []

        def serve():
            asyncio.set_event_loop(loop)
            self.app = make_app(self.flask_app, **self.settings)
            runner = web.AppRunner(self.app, handler_cancellation=True, shutdown_timeout=0.5)
            try:
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failed.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._loop, self._thread = loop, threading.Thread(target=serve, name="push-server", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failed:
            raise RuntimeError(f"the push server did not start: {failed}")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None


@contextlib.contextmanager
def push_server(flask_app, **settings):
    """Serve the push app until the block ends; yields its base URL."""
    server = PushServer(flask_app, **settings).start()
    try:
        yield server.url
    finally:
        server.stop()
