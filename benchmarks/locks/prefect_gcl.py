"""Prefect global concurrency limits (leases) as the cross-host submit lock.

Usage (stack up)::

    .venv/bin/python benchmarks/locks/prefect_gcl.py [--rounds 30] [--kills 2]

A lock per idempotency key is a global concurrency limit of one slot named after the key,
created before the first acquire (``strict=True`` refuses a missing limit instead of running
unguarded) and deleted after the last release. ``concurrency(..., lease_duration=60)`` uses the
shortest lease the 3.9 server accepts (``ge=60``); the holder renews it in the background while
it holds the slot. A dead holder stops renewing and its slot comes back when the server's
lease-expiry service (every ``PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS``, 15 s) sees the
lease expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from typing import TYPE_CHECKING

from _harness import (
    Report,
    hold_forever,
    load_stack_env,
    measure_latency,
    measure_sigkill,
    print_report,
    role_parser,
)

if TYPE_CHECKING:
    import argparse

SCRIPT = Path(__file__).resolve()
LEASE_SECONDS = 60.0


def _limit_name(key: str) -> str:
    return f"qcsc-lock-{key}"


class GlobalConcurrencyLock:
    """One global concurrency limit of one slot per key; a lease while held."""

    name = "Prefect global concurrency limit (lease 60 s, strict)"

    async def setup(self) -> None:
        from prefect.client.orchestration import get_client

        self.client = get_client()
        await self.client.__aenter__()

    async def prepare_key(self, key: str) -> None:
        from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
        from prefect.exceptions import ObjectAlreadyExists

        with contextlib.suppress(ObjectAlreadyExists):
            await self.client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=_limit_name(key), limit=1)
            )

    async def try_acquire(self, key: str, timeout: float) -> object | None:
        from prefect.concurrency.asyncio import concurrency

        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(
                concurrency(
                    _limit_name(key),
                    occupy=1,
                    timeout_seconds=timeout,
                    lease_duration=LEASE_SECONDS,
                    strict=True,
                )
            )
        except TimeoutError:
            await stack.aclose()
            return None
        return stack

    async def release(self, key: str, lease: object) -> None:
        assert isinstance(lease, contextlib.AsyncExitStack)
        await lease.aclose()

    async def cleanup_key(self, key: str) -> None:
        await self.client.delete_global_concurrency_limit_by_name(_limit_name(key))

    async def teardown(self) -> None:
        await self.client.__aexit__(None, None, None)


async def _measure(args: argparse.Namespace) -> None:
    backend = GlobalConcurrencyLock()
    await backend.setup()
    report = Report(backend.name)
    await measure_latency(backend, report, args.rounds)
    await measure_sigkill(backend, report, SCRIPT, trials=args.kills, cap=args.cap)
    await backend.teardown()
    print_report(report)


async def _hold(key: str) -> None:
    await hold_forever(GlobalConcurrencyLock(), key)


def main() -> None:
    """Parse the role and run it."""
    parser = role_parser(rounds=30, kills=2, cap=150.0)
    args = parser.parse_args()
    load_stack_env()
    asyncio.run(_hold(args.key) if args.role == "hold" else _measure(args))


if __name__ == "__main__":
    main()
