"""PostgreSQL session-level advisory locks (asyncpg) as the cross-host submit lock.

Usage (stack up)::

    .venv/bin/python benchmarks/locks/pg_advisory.py [--rounds 50] [--kills 3] [--lost-host]

Measures, against the stack's lock database (``QCSC_QISKIT_LOCK_URL`` from ``.stack/env``):

* acquire/release latency of ``pg_try_advisory_lock`` / ``pg_advisory_unlock`` on one held
  connection (the library keeps one per process);
* how long a SIGKILLed holder keeps another process out (its socket closes, the server ends the
  session and so its locks);
* with ``--lost-host`` (root, ``ip netns``): a holder in its own network namespace whose link is
  taken down, as if its machine vanished. Nothing closes the socket; the server notices through
  TCP keepalive. This needs a server reachable over the veth pair, so a private throwaway
  PostgreSQL cluster is started for it (same settings as the stack's), once with the stack's
  cluster-wide keepalive (5 s idle, 2 s x 3 probes) and once with the per-connection settings
  the library sends (10 s idle, 5 s x 3 probes, 25 s user timeout);
* a SIGSTOPped holder (the process frozen, its kernel alive and still answering keepalives).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

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
    start_holder,
)

if TYPE_CHECKING:
    import argparse

SCRIPT = Path(__file__).resolve()
#: What the library sends per connection (server_settings) in its PostgreSQL lock.
LIBRARY_KEEPALIVE = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "25000",
}
_NS = "qcsclk"
_HOST_IP = "10.213.77.1"
_NS_IP = "10.213.77.2"


def _number(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class AdvisoryLock:
    """One connection per process; one advisory lock per key on it."""

    name = "PostgreSQL advisory lock (asyncpg, session-level)"

    def __init__(self, url: str, server_settings: dict[str, str] | None = None) -> None:
        self.url = url
        self.server_settings = server_settings or {}
        self.conn: asyncpg.Connection | None = None

    async def setup(self) -> None:
        self.conn = await asyncpg.connect(
            self.url, timeout=10, server_settings=self.server_settings
        )

    async def prepare_key(self, key: str) -> None:
        return None

    async def try_acquire(self, key: str, timeout: float) -> object | None:
        assert self.conn is not None
        deadline = time.monotonic() + timeout
        while True:
            if await self.conn.fetchval("SELECT pg_try_advisory_lock($1)", _number(key)):
                return key
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def release(self, key: str, lease: object) -> None:
        assert self.conn is not None
        await self.conn.fetchval("SELECT pg_advisory_unlock($1)", _number(key))

    async def cleanup_key(self, key: str) -> None:
        return None

    async def teardown(self) -> None:
        if self.conn is not None:
            await self.conn.close()


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _netns_up() -> None:
    _netns_down()
    _sh("ip", "netns", "add", _NS)
    _sh("ip", "link", "add", "qcsclk0", "type", "veth", "peer", "name", "qcsclk1")
    _sh("ip", "link", "set", "qcsclk1", "netns", _NS)
    _sh("ip", "addr", "add", f"{_HOST_IP}/30", "dev", "qcsclk0")
    _sh("ip", "link", "set", "qcsclk0", "up")
    _sh("ip", "netns", "exec", _NS, "ip", "addr", "add", f"{_NS_IP}/30", "dev", "qcsclk1")
    _sh("ip", "netns", "exec", _NS, "ip", "link", "set", "qcsclk1", "up")
    _sh("ip", "netns", "exec", _NS, "ip", "link", "set", "lo", "up")


def _netns_down() -> None:
    subprocess.run(["ip", "link", "del", "qcsclk0"], check=False, capture_output=True)
    subprocess.run(["ip", "netns", "del", _NS], check=False, capture_output=True)


async def _lost_host(report: Report, cap: float) -> None:
    """Holder in a namespace whose link goes down; time until the server frees the lock."""
    import qcsc_stack as stack

    if os.geteuid() != 0 or not shutil.which("ip"):
        report.notes["lost_host"] = "skipped (needs root and ip netns)"
        return
    work = Path(tempfile.mkdtemp(prefix="qcsc-pglost-"))
    work.chmod(0o755)
    port = stack.free_port()
    postgres = stack.Postgres(
        work / "pg", port, listen=("127.0.0.1", _HOST_IP), hba_hosts=(f"{_NS_IP}/32",)
    )
    password = uuid.uuid4().hex
    _netns_up()
    try:
        postgres.init()
        postgres.start()
        postgres.ensure_database("locks", "locker", password)
        local_url = f"postgresql://locker:{password}@127.0.0.1:{port}/locks"
        remote_url = f"postgresql://locker:{password}@{_HOST_IP}:{port}/locks"
        for label, settings in (("stack (5+2x3)", None), ("library (10+5x3)", LIBRARY_KEEPALIVE)):
            waiter = AdvisoryLock(local_url)
            await waiter.setup()
            key = f"lost-{uuid.uuid4().hex}"
            extra = ["--url", remote_url, "--netns", _NS]
            if settings:
                extra.append("--library-keepalive")
            holder = start_holder(SCRIPT, key, extra)
            assert await waiter.try_acquire(key, 0.2) is None, "lock not exclusive"
            _sh("ip", "netns", "exec", _NS, "ip", "link", "set", "qcsclk1", "down")
            start = time.monotonic()
            lease = await waiter.try_acquire(key, cap)
            elapsed = time.monotonic() - start
            report.notes[f"lost_host_release_s {label}"] = (
                round(elapsed, 2) if lease else f"> {cap} (not released)"
            )
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
            _sh("ip", "netns", "exec", _NS, "ip", "link", "set", "qcsclk1", "up")
            await waiter.teardown()
    finally:
        postgres.stop()
        _netns_down()
        shutil.rmtree(work, ignore_errors=True)


async def _sigstop(backend: AdvisoryLock, report: Report, url: str, cap: float) -> None:
    key = f"stop-{uuid.uuid4().hex}"
    holder = start_holder(SCRIPT, key, ["--url", url])
    os.killpg(holder.pid, signal.SIGSTOP)
    start = time.monotonic()
    lease = await backend.try_acquire(key, cap)
    elapsed = time.monotonic() - start
    report.notes["sigstop_release_s"] = round(elapsed, 2) if lease else f"> {cap} (held)"
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    if lease is None:
        lease = await backend.try_acquire(key, 5)
        report.notes["after_sigkill_of_stopped_holder_s"] = "released" if lease else "still held"
    if lease is not None:
        await backend.release(key, lease)


async def _measure(args: argparse.Namespace) -> None:
    env = load_stack_env()
    url = env["QCSC_QISKIT_LOCK_URL"]
    backend = AdvisoryLock(url)
    await backend.setup()
    report = Report(backend.name)
    await measure_latency(backend, report, args.rounds)
    await measure_sigkill(backend, report, SCRIPT, trials=args.kills, cap=60)
    if args.sigstop:
        await _sigstop(backend, report, url, cap=args.cap)
    await backend.teardown()
    if args.lost_host:
        await _lost_host(report, cap=args.cap)
    print_report(report)


async def _hold(args: argparse.Namespace) -> None:
    url = args.url or load_stack_env()["QCSC_QISKIT_LOCK_URL"]
    backend = AdvisoryLock(url, LIBRARY_KEEPALIVE if args.library_keepalive else None)
    await hold_forever(backend, args.key)


def main() -> None:
    """Parse the role and run it."""
    parser = role_parser(rounds=50, kills=3, cap=45.0)
    parser.add_argument("--lost-host", action="store_true")
    parser.add_argument("--sigstop", action="store_true")
    parser.add_argument("--url")
    parser.add_argument("--netns")
    parser.add_argument("--library-keepalive", action="store_true")
    args = parser.parse_args()
    if args.role == "hold" and args.netns and os.environ.get("QCSC_IN_NETNS") != "1":
        # Re-run this holder inside the namespace.
        argv = ["ip", "netns", "exec", args.netns, sys.executable, *sys.argv]
        os.execvpe("ip", argv, {**os.environ, "QCSC_IN_NETNS": "1"})
    asyncio.run(_hold(args) if args.role == "hold" else _measure(args))


if __name__ == "__main__":
    main()
