"""Simulated host processes for ``make chaos``: start, release, watch, and read their outcome."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@dataclass
class Host:
    """One host process running ``host.py`` (its stdout and stderr go to files)."""

    name: str
    indices: list[int]
    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    released_at: float | None = field(default=None)
    exited_at: float | None = field(default=None)

    @property
    def pid(self) -> int:
        """The host's process id (its lock session's ``application_name`` ends with it)."""
        return self.process.pid

    def events(self) -> list[dict[str, Any]]:
        """The JSON lines printed so far."""
        found: list[dict[str, Any]] = []
        with contextlib.suppress(OSError):
            for line in self.out.read_text().splitlines():
                if line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        found.append(json.loads(line))
        return found

    def ready(self) -> bool:
        """Whether it finished importing and waits for ``go``."""
        return any(event.get("event") == "ready" for event in self.events())

    def go(self) -> None:
        """Let it run its flow."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()
        self.released_at = time.monotonic()

    def outcome(self) -> dict[str, Any] | None:
        """Its ``completed`` or ``failed`` line, if it printed one."""
        ends = [e for e in self.events() if e.get("event") in ("completed", "failed")]
        return ends[-1] if ends else None

    def completed(self) -> bool:
        """Whether its flow run completed."""
        outcome = self.outcome()
        return outcome is not None and outcome["event"] == "completed"

    def poll(self) -> bool:
        """Whether it has exited (noting when this was first seen)."""
        if self.process.poll() is None:
            return False
        if self.exited_at is None:
            self.exited_at = time.monotonic()
        return True

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the host process."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def stop(self) -> None:
        """Kill it if it still runs (a stopped process is resumed so that it dies)."""
        if self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.signal(signal.SIGCONT)
            self.process.wait()

    def stderr_tail(self, chars: int = 1500) -> str:
        """The end of its stderr, for failure reports."""
        with contextlib.suppress(OSError):
            return self.err.read_text()[-chars:]
        return ""


def launch(
    name: str,
    indices: list[int],
    *,
    salt: float,
    run_name: str,
    env: dict[str, str],
    workdir: Path,
    prefix: list[str] | None = None,
) -> Host:
    """Start one host process (under ``prefix``, e.g. ``ip netns exec NS``); it waits for go."""
    workdir.mkdir(parents=True, exist_ok=True)
    attempt = len(list(workdir.glob(f"{name}-*.out"))) + 1
    out = workdir / f"{name}-{attempt}.out"
    err = workdir / f"{name}-{attempt}.err"
    argv = [*(prefix or []), sys.executable, str(HERE / "host.py"), "--salt", str(salt)]
    argv += ["--indices", ",".join(map(str, indices))]
    argv += ["--name", run_name]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            argv,
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    return Host(name, indices, process, out, err)


def wait_ready(hosts: list[Host], timeout: float = 180.0) -> None:
    """Wait until every host has imported everything and waits for ``go``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(host.ready() for host in hosts):
            return
        for host in hosts:
            if host.process.poll() is not None:
                raise RuntimeError(f"{host.name} exited early:\n{host.stderr_tail()}")
        time.sleep(0.2)
    raise RuntimeError(f"hosts not ready within {timeout} s")


def wait_exit(hosts: list[Host], timeout: float) -> bool:
    """Wait until every host has exited; False when some still run at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all([host.poll() for host in hosts]):  # a list: poll every host each time
            return True
        time.sleep(0.2)
    return False
