"""Shared measurement harness for the cross-host submit-lock candidates.

Every candidate script defines a :class:`LockBackend` and calls :func:`main`. The script then
runs in one of two roles:

* ``measure`` (the default): acquire/release latency over fresh keys, then the time a SIGKILLed
  holder (a child process running the ``hold`` role) keeps another process out of the lock.
* ``hold KEY``: acquire ``KEY``, print ``HELD``, then sleep until killed.

Numbers are printed as a table and as one JSON line (``RESULT {...}``) for docs/locking.md.
The stack's ``.stack/env`` is loaded when the process has no ``PREFECT_API_URL`` yet, and
PREFECT_HOME points at a private temporary directory, so nothing here touches a user's profile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

REPO = Path(__file__).resolve().parents[2]


def load_stack_env(path: Path | None = None) -> dict[str, str]:
    """Export ``.stack/env`` into this process (unless already joined) and return it.

    Raises:
        SystemExit: The stack is not up (no env file).
    """
    env_path = path or Path(os.environ.get("QCSC_STACK_ENV", REPO / ".stack" / "env"))
    if not env_path.exists():
        raise SystemExit(f"{env_path} not found: run `make stack-up` first")
    values: dict[str, str] = {}
    for line in env_path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    for key, value in values.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="qcsc-lockbench-"))
    return values


class Lease(Protocol):
    """Whatever a backend needs to release what it acquired."""


class LockBackend(Protocol):
    """A lock candidate as the submit step would use it: one lock per idempotency key."""

    name: str

    async def setup(self) -> None:
        """Open connections or clients."""

    async def prepare_key(self, key: str) -> None:
        """Per-key work needed before the first acquire (e.g. creating a limit)."""

    async def try_acquire(self, key: str, timeout: float) -> Lease | None:
        """Acquire ``key`` within ``timeout`` seconds; ``None`` when it stayed taken."""

    async def release(self, key: str, lease: Lease) -> None:
        """Release what :meth:`try_acquire` returned."""

    async def cleanup_key(self, key: str) -> None:
        """Per-key clean-up after the last release (e.g. deleting a limit)."""

    async def teardown(self) -> None:
        """Close connections or clients."""


@dataclass
class Report:
    """What one candidate measured."""

    name: str
    rounds: int = 0
    prepare_ms: list[float] = field(default_factory=list)
    acquire_ms: list[float] = field(default_factory=list)
    release_ms: list[float] = field(default_factory=list)
    cleanup_ms: list[float] = field(default_factory=list)
    kill_release_s: list[float] = field(default_factory=list)
    notes: dict[str, object] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """Medians and 95th percentiles, rounded."""

        def stats(values: list[float]) -> dict[str, float] | None:
            if not values:
                return None
            ordered = sorted(values)
            p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
            return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2)}

        return {
            "name": self.name,
            "rounds": self.rounds,
            "prepare_ms": stats(self.prepare_ms),
            "acquire_ms": stats(self.acquire_ms),
            "release_ms": stats(self.release_ms),
            "cleanup_ms": stats(self.cleanup_ms),
            "sigkill_release_s": [round(v, 2) for v in self.kill_release_s],
            **self.notes,
        }


async def _timed(call: Callable[[], Awaitable[object]]) -> tuple[float, object]:
    start = time.perf_counter()
    value = await call()
    return (time.perf_counter() - start) * 1000, value


async def measure_latency(backend: LockBackend, report: Report, rounds: int) -> None:
    """Acquire and release ``rounds`` fresh keys one after another, uncontended."""
    for _ in range(rounds):
        key = f"bench-{uuid.uuid4().hex}"
        ms, _ = await _timed(lambda key=key: backend.prepare_key(key))  # type: ignore[misc]
        report.prepare_ms.append(ms)
        ms, lease = await _timed(lambda key=key: backend.try_acquire(key, 10.0))  # type: ignore[misc]
        if lease is None:
            raise RuntimeError(f"{backend.name}: an uncontended acquire failed")
        report.acquire_ms.append(ms)
        ms, _ = await _timed(lambda key=key, lease=lease: backend.release(key, lease))  # type: ignore[misc]
        report.release_ms.append(ms)
        ms, _ = await _timed(lambda key=key: backend.cleanup_key(key))  # type: ignore[misc]
        report.cleanup_ms.append(ms)
        report.rounds += 1


def start_holder(script: Path, key: str, extra: list[str] | None = None) -> subprocess.Popen[str]:
    """Start ``script hold KEY`` and wait until it reports ``HELD`` (at most 120 s)."""
    proc = subprocess.Popen(
        [sys.executable, str(script), "hold", key, *(extra or [])],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == "HELD":
            return proc
        if not line and proc.poll() is not None:
            raise RuntimeError(f"holder exited with {proc.returncode} before holding the lock")
    proc.kill()
    raise RuntimeError("holder did not report HELD within 120 s")


async def wait_until_acquired(
    backend: LockBackend, key: str, cap: float
) -> tuple[float, Lease | None]:
    """From now, how long until this process holds ``key`` (``cap`` when it never does)."""
    start = time.monotonic()
    lease = await backend.try_acquire(key, cap)
    return time.monotonic() - start, lease


async def measure_sigkill(
    backend: LockBackend,
    report: Report,
    script: Path,
    *,
    trials: int,
    cap: float,
    holder_args: list[str] | None = None,
) -> None:
    """SIGKILL a holder process and time how long until this process gets the lock."""
    for _ in range(trials):
        key = f"bench-kill-{uuid.uuid4().hex}"
        await backend.prepare_key(key)
        holder = start_holder(script, key, holder_args)
        probe = await backend.try_acquire(key, 0.2)
        if probe is not None:
            raise RuntimeError(f"{backend.name}: the lock was not exclusive")
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        elapsed, lease = await wait_until_acquired(backend, key, cap)
        report.kill_release_s.append(elapsed if lease is not None else float("inf"))
        if lease is not None:
            await backend.release(key, lease)
        await backend.cleanup_key(key)


async def hold_forever(backend: LockBackend, key: str) -> None:
    """The ``hold`` role: take ``key``, announce it, then sleep until killed."""
    await backend.setup()
    lease = await backend.try_acquire(key, 60.0)
    if lease is None:
        raise SystemExit("could not acquire the lock to hold")
    print("HELD", flush=True)
    await asyncio.sleep(3600)


def role_parser(*, rounds: int, kills: int, cap: float) -> argparse.ArgumentParser:
    """The command line every lock script shares: ``[measure|hold] [KEY]`` and the bounds."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", nargs="?", default="measure", choices=("measure", "hold"))
    parser.add_argument("key", nargs="?")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--kills", type=int, default=kills)
    parser.add_argument("--cap", type=float, default=cap)
    return parser


def print_report(report: Report) -> None:
    """Print a readable block and one ``RESULT`` JSON line."""
    summary = report.summary()
    print(f"== {report.name}")
    for key, value in summary.items():
        if key != "name":
            print(f"  {key}: {value}")
    print("RESULT " + json.dumps(summary), flush=True)
