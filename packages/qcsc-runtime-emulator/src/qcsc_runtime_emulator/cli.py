"""Command line: ``qcsc-runtime-emulator serve``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from .defaults import DEFAULT_API_KEY, DEFAULT_INSTANCE


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser."""
    parser = argparse.ArgumentParser(
        prog="qcsc-runtime-emulator",
        description="Serve the IBM Qiskit Runtime REST API locally.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default: loopback)")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument("--state-dir", default=None, help="persist jobs and results here")
    serve.add_argument("--noise", choices=("none", "reduced", "device"), default="none")
    serve.add_argument(
        "--queue-delay", type=float, default=0.0, metavar="S", help="seconds every job stays Queued"
    )
    serve.add_argument(
        "--run-delay", type=float, default=0.0, metavar="S", help="seconds every job stays Running"
    )
    serve.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds added before answering each service request (models a remote service)",
    )
    serve.add_argument("--api-key", default=DEFAULT_API_KEY)
    serve.add_argument("--instance", default=DEFAULT_INSTANCE)
    serve.add_argument("-v", "--verbose", action="store_true", help="log requests")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script.

    Prints one JSON line (``url``, ``service_kwargs``, ``env``, ...) once the server
    is listening, then serves until SIGINT or SIGTERM.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    from .server import RuntimeEmulator, dumps_line

    emulator = RuntimeEmulator(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir,
        noise=args.noise,
        queue_delay=args.queue_delay,
        api_key=args.api_key,
        instance=args.instance,
        run_delay=args.run_delay,
        latency=args.latency,
    )
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    emulator.start()
    sys.stdout.write(dumps_line(emulator.describe()) + "\n")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
