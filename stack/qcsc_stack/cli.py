"""The stack's command line: ``python -m qcsc_stack up|down|status``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .base import (
    _REPO,
    RESULTS_BLOCK_SLUG,
    Options,
    StackError,
)
from .stack import Stack, _setup_child


def _summary(stack: Stack) -> str:
    status = stack.status()
    lines = [f"stack up in {status['dir']} (loopback only)"]
    for key in ("postgres", "prefect_server", "emulator", "workers"):
        lines.append(f"  {key}: {json.dumps(status[key])}")
    lines.append(f"  results block: {RESULTS_BLOCK_SLUG} -> {stack.results_dir}")
    lines.append(f"  join with: set -a; . {stack.env_path}; set +a   (mode 0600, holds secrets)")
    lines.append("  UI login: the value of PREFECT_API_AUTH_STRING in that file")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``up``, ``down``, ``status``."""
    parser = argparse.ArgumentParser(
        description="The local stack: PostgreSQL, Prefect server, Runtime emulator, workers."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring the stack up (idempotent)")
    up.add_argument("--dir", type=Path, default=_REPO / ".stack")
    up.add_argument("--workers", type=int, default=int(os.environ.get("STACK_WORKERS", "2")))
    up.add_argument("--limit", type=int, default=int(os.environ.get("STACK_WORKER_LIMIT", "4")))
    up.add_argument("--no-ui", action="store_true", help="serve the API without the UI")
    up.add_argument("--queue-delay", type=float, default=0.0, help="emulator queue delay (s)")
    up.add_argument("--timeout", type=float, default=120.0)
    down = sub.add_parser("down", help="stop everything (safe to repeat)")
    down.add_argument("--dir", type=Path, default=_REPO / ".stack")
    down.add_argument("--clean", action="store_true", help="also delete the state directory")
    status = sub.add_parser("status", help="print what runs (no secrets)")
    status.add_argument("--dir", type=Path, default=_REPO / ".stack")
    setup = sub.add_parser("_setup")
    setup.add_argument("results_dir")
    setup.add_argument("work_pool")
    args = parser.parse_args(argv)

    if args.command == "_setup":
        _setup_child(args.results_dir, args.work_pool)
        return 0
    stack = Stack(args.dir)
    try:
        if args.command == "up":
            options = Options(
                directory=args.dir,
                workers=args.workers,
                worker_limit=args.limit,
                ui=not args.no_ui,
                emulator_queue_delay=args.queue_delay,
                timeout=args.timeout,
            )
            stack.up(options)
            print(_summary(stack))
        elif args.command == "down":
            stack.down(clean=args.clean)
            print(f"stack in {stack.dir} stopped" + (" and deleted" if args.clean else ""))
        else:
            print(json.dumps(stack.status(), indent=2))
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    return 0
