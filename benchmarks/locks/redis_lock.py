"""prefect-redis's ``RedisLockManager`` as the cross-host submit lock (measurement only).

Usage (needs ``redis-server`` from Debian and ``pip install prefect-redis`` in .venv; neither is
a project dependency)::

    .venv/bin/python benchmarks/locks/redis_lock.py [--rounds 50] [--kills 2] [--expiry 20]

A private ``redis-server`` is started on a free loopback port and stopped at the end. Three
things are measured:

* the async deadlock: ``aacquire_lock`` then ``release_lock`` (what a Prefect transaction does in
  an async task) leaves the key locked, because ``release_lock`` calls the async lock's
  ``release()`` without awaiting it;
* the missing expiry: a holder that acquires as Prefect does (no ``hold_timeout``) and is then
  SIGKILLed blocks a waiter until the cap;
* a subclass that forces ``hold_timeout`` (``--expiry`` seconds) and releases with the async
  client: latency, and the SIGKILL release (≈ the expiry).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from typing import TYPE_CHECKING

from _harness import (
    Report,
    hold_forever,
    measure_latency,
    measure_sigkill,
    print_report,
    role_parser,
    start_holder,
)

if TYPE_CHECKING:
    import argparse

SCRIPT = Path(__file__).resolve()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ExpiringRedisLock:
    """``RedisLockManager`` with a forced hold timeout, released with the async client."""

    def __init__(self, port: int, expiry: float | None) -> None:
        from prefect_redis.locking import RedisLockManager

        self.expiry = expiry
        self.manager = RedisLockManager(host="127.0.0.1", port=port)
        label = f"forced expiry {expiry:g} s" if expiry else "no expiry (as Prefect calls it)"
        self.name = f"prefect-redis RedisLockManager ({label})"

    async def setup(self) -> None:
        return None

    async def prepare_key(self, key: str) -> None:
        return None

    async def try_acquire(self, key: str, timeout: float) -> object | None:
        holder = uuid.uuid4().hex
        ok = await self.manager.aacquire_lock(
            key, holder, acquire_timeout=timeout, hold_timeout=self.expiry
        )
        return holder if ok else None

    async def release(self, key: str, lease: object) -> None:
        # Release with the async lock object (awaited): the shipped release_lock would not.
        lock = self.manager._locks.pop(self.manager._lock_name_for_key(key))
        await lock.release()

    async def cleanup_key(self, key: str) -> None:
        return None

    async def teardown(self) -> None:
        await self.manager.async_client.aclose()


async def _async_deadlock(port: int) -> str:
    """Acquire async, release as a Prefect transaction does; is the key still locked?"""
    from prefect_redis.locking import RedisLockManager

    manager = RedisLockManager(host="127.0.0.1", port=port)
    key = f"deadlock-{uuid.uuid4().hex}"
    await manager.aacquire_lock(key, "holder-1")
    with contextlib.suppress(Exception):
        manager.release_lock(key, "holder-1")  # returns a coroutine nobody awaits
    still_locked = manager.is_locked(key)
    other = await manager.aacquire_lock(key, "holder-2", acquire_timeout=3)
    await manager.async_client.aclose()
    if still_locked and not other:
        return "deadlock: key still locked after release_lock; a second holder waited 3 s in vain"
    return f"no deadlock observed (locked={still_locked}, second acquire={other})"


def _start_redis(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(work)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


async def _measure(args: argparse.Namespace) -> None:
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server not found (apt-get install -y redis-server)")
    work = Path(tempfile.mkdtemp(prefix="qcsc-redis-"))
    proc, port = _start_redis(work)
    os.environ["QCSC_BENCH_REDIS_PORT"] = str(port)
    try:
        deadlock = await _async_deadlock(port)

        # As Prefect calls it: no hold timeout, holder killed.
        plain = ExpiringRedisLock(port, None)
        plain_report = Report(plain.name)
        key = f"plain-{uuid.uuid4().hex}"
        holder = start_holder(SCRIPT, key, ["--expiry", "0"])
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        start = time.monotonic()
        lease = await plain.try_acquire(key, args.cap)
        plain_report.notes["sigkill_release_s"] = (
            round(time.monotonic() - start, 2) if lease else f"> {args.cap} (never expires)"
        )
        plain_report.notes["async_acquire_then_release_lock"] = deadlock
        await plain.teardown()

        forced = ExpiringRedisLock(port, args.expiry)
        report = Report(forced.name)
        await measure_latency(forced, report, args.rounds)
        await measure_sigkill(
            forced,
            report,
            SCRIPT,
            trials=args.kills,
            cap=args.expiry + 30,
            holder_args=["--expiry", str(args.expiry)],
        )
        await forced.teardown()
        print_report(plain_report)
        print_report(report)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


async def _hold(key: str, expiry: float) -> None:
    port = int(os.environ["QCSC_BENCH_REDIS_PORT"])
    await hold_forever(ExpiringRedisLock(port, expiry or None), key)


def main() -> None:
    """Parse the role and run it."""
    parser = role_parser(rounds=50, kills=2, cap=45.0)
    parser.add_argument("--expiry", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(_hold(args.key, args.expiry) if args.role == "hold" else _measure(args))


if __name__ == "__main__":
    main()
