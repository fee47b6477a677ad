"""`python -m sandbox`: run the sandbox room and the sandbox providers for `make run`."""
from __future__ import annotations

import argparse
import logging
import signal
import threading

from sandbox.server import serve


def main() -> None:
    from sandbox.providers import create_providers_app
    from sandbox.room import create_room_app

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--room-port", type=int, default=5101)
    parser.add_argument("--providers-port", type=int, default=5102)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(message)s")
    room = serve(create_room_app(), port=args.room_port)
    providers = serve(create_providers_app(), port=args.providers_port)
    print(f"sandbox room:      {room.url}/  (play a seller here)", flush=True)
    print(f"sandbox providers: {providers.url}/_sandbox/providers/", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    room.stop()
    providers.stop()


if __name__ == "__main__":
    main()
