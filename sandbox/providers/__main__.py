"""``python -m sandbox.providers --port 5102``: run the providers sandbox on loopback."""
from __future__ import annotations

import argparse
import logging

from ..server import serve
from . import create_providers_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.providers", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5102)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    running = serve(create_providers_app(seed=args.seed), host=args.host, port=args.port)
    logging.getLogger("sandbox.providers").info("providers sandbox on %s (cabinet: %s/_sandbox/providers/)",
                                                running.url, running.url)
    try:
        running.thread.join()
    except KeyboardInterrupt:
        running.stop()


if __name__ == "__main__":
    main()
