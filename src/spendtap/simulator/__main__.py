"""``python -m spendtap.simulator``: run the provider simulator until stopped.

Prints one JSON line, ``{"port": N, "ca_cert": "/path/ca.pem"}``, once it listens,
so another process can start it and read where it is. SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from spendtap.errors import SpendtapError
from spendtap.simulator.certs import DEFAULT_HOSTS, make_test_pki
from spendtap.simulator.server import start_simulator

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m spendtap.simulator",
        description="A fake api.anthropic.com and api.openai.com over TLS.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free one)")
    parser.add_argument(
        "--cert-dir",
        type=Path,
        required=True,
        help="where the test CA and server certificate are kept (made if missing)",
    )
    parser.add_argument(
        "--ledger", type=Path, default=None, help="JSON Lines file of every call"
    )
    parser.add_argument(
        "--cert-host",
        action="append",
        default=None,
        help="a name the server certificate covers (repeat); default: "
        + ", ".join(DEFAULT_HOSTS),
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        pki = make_test_pki(args.cert_dir, args.cert_host or DEFAULT_HOSTS)
        simulator = start_simulator(
            pki, host=args.host, port=args.port, ledger=args.ledger
        )
    except SpendtapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    with simulator:
        ready = {"port": simulator.port, "ca_cert": str(pki.ca_cert)}
        print(json.dumps(ready), flush=True)
        while not stop.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
