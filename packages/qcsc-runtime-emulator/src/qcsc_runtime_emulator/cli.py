"""Command line: ``qcsc-runtime-emulator serve``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from .defaults import API_KEY_ENV, DEFAULT_API_KEY, DEFAULT_INSTANCE


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
    key = serve.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key-file",
        metavar="PATH",
        help=f"read the API key from this file (or set {API_KEY_ENV}; default: the public "
        "development key)",
    )
    key.add_argument(
        "--api-key",
        metavar="KEY",
        help="the API key itself: visible to every user in the process list, for throwaway "
        "keys only",
    )
    serve.add_argument("--instance", default=DEFAULT_INSTANCE)
    serve.add_argument("-v", "--verbose", action="store_true", help="log requests")
    return parser


def resolve_api_key(key_file: str | None, key: str | None, environ: Mapping[str, str]) -> str:
    """Return the API key the emulator accepts.

    The first of these that is given wins: ``--api-key-file`` (the file's first line),
    ``--api-key``, the ``QCSC_EMULATOR_API_KEY`` environment variable, the public development key.

    Args:
        key_file: Path of a file holding the key (``--api-key-file``), or ``None``.
        key: The key given on the command line (``--api-key``), or ``None``.
        environ: The process environment.

    Raises:
        ValueError: The key file cannot be read or holds no key, or the variable is empty.
    """
    if key_file is not None:
        try:
            lines = Path(key_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(
                f"cannot read the API key file {key_file}: {exc.strerror}; "
                "create it (mode 0600) with the key on its first line"
            ) from exc
        if not lines or not lines[0].strip():
            raise ValueError(
                f"the API key file {key_file} is empty; write the key on its first line"
            )
        return lines[0].strip()
    if key is not None:
        return key
    if API_KEY_ENV in environ:
        if not environ[API_KEY_ENV].strip():
            raise ValueError(f"{API_KEY_ENV} is set but empty; set it to the key or unset it")
        return environ[API_KEY_ENV].strip()
    return DEFAULT_API_KEY


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script.

    Prints one JSON line (``url``, ``service_kwargs``, ``env``, ...) once the server
    is listening, then serves until SIGINT or SIGTERM.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        api_key = resolve_api_key(args.api_key_file, args.api_key, os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    from .server import RuntimeEmulator, dumps_line

    emulator = RuntimeEmulator(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir,
        noise=args.noise,
        queue_delay=args.queue_delay,
        api_key=api_key,
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
