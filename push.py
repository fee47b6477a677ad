"""The push process: server-sent invoice status for the pages watching open invoices (app/web/push/server.py).

    python push.py [--host 127.0.0.1] [--port 5002]

Configuration as for the web app (environment / .env); the pages find it through ``PUSH_URL``.
"""
from __future__ import annotations

import argparse
import logging

from app import create_app
from app.web.push.server import serve


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="PokerPay's push process (server-sent invoice status)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    args = parser.parse_args(argv)
    flask_app = create_app()
    logging.getLogger("app.web.push").setLevel(logging.INFO)
    serve(flask_app, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
