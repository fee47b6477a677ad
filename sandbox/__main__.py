"""`python -m sandbox`: run the sandbox room, the sandbox providers and the sandbox Telegram bot for `make run`."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import threading

from sandbox.server import serve


def load_accounts(path: str, room_app, providers_app) -> None:
    """Open the listed accounts through the sandboxes' own control endpoints."""
    with open(path, encoding="utf-8") as f:
        accounts = json.load(f)
    room = room_app.test_client()
    for entry in accounts.get("room", []):
        response = room.post("/_sandbox/room/accounts", json=entry)
        if response.status_code >= 300:
            raise SystemExit(f"sandbox room refused {entry['account']}: {response.get_data(as_text=True)}")
    cabinet = providers_app.test_client()
    for kind, entries in accounts.get("providers", {}).items():
        for entry in entries:
            response = cabinet.post(f"/_sandbox/providers/{kind}/accounts", json=entry)
            if response.status_code >= 300:
                raise SystemExit(f"sandbox {kind} refused an account: {response.get_data(as_text=True)}")


def main() -> None:
    from sandbox.providers import create_providers_app
    from sandbox.room import create_room_app
    from sandbox.telegram import DEFAULT_TOKEN, DEFAULT_USERNAME, create_telegram_app

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 inside a container")
    parser.add_argument("--room-port", type=int, default=5101)
    parser.add_argument("--providers-port", type=int, default=5102)
    parser.add_argument("--telegram-port", type=int, default=5103)
    parser.add_argument("--accounts", help="JSON file of accounts to open at start (flask demo sandbox-accounts)")
    parser.add_argument("--seed", type=int, default=0, help="seeds ids and fault rolls (the chaos run passes its own)")
    parser.add_argument("--quiet", action="store_true", help="log warnings only (no line per request)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s sandbox %(message)s")
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    room_app, providers_app = create_room_app(seed=args.seed), create_providers_app(seed=args.seed)
    if args.accounts:
        load_accounts(args.accounts, room_app, providers_app)
    room = serve(room_app, host=args.host, port=args.room_port)
    providers = serve(providers_app, host=args.host, port=args.providers_port)
    telegram = serve(create_telegram_app(DEFAULT_TOKEN, DEFAULT_USERNAME, seed=args.seed), host=args.host,
                     port=args.telegram_port)
    print(f"sandbox room:      {room.url}/  (play a seller here)", flush=True)
    print(f"sandbox providers: {providers.url}/_sandbox/providers/", flush=True)
    print(f"sandbox telegram:  {telegram.url}/{DEFAULT_USERNAME}  (deep links open here: press Start)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    room.stop()
    providers.stop()
    telegram.stop()


if __name__ == "__main__":
    main()
