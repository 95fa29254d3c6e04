"""One Prefect server and one Runtime emulator per run, and the workload process launcher."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qcsc_runtime_emulator import EmulatorControl
from qcsc_runtime_emulator.server import CONTROL_PREFIX

from .config import ROOT, SERVICE_LATENCY, WORK

sys.path.insert(0, str(WORK))
from _common import MARKER, count_requests

if TYPE_CHECKING:
    from collections.abc import Iterator

#: One workload process's records, exit code and (on failure) the tail of its log.
Outcome = tuple[list[dict[str, Any]], int, str]


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop a server this runner started (its own process group)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _wait_healthy(process: subprocess.Popen[Any], url: str, limit: float = 180) -> None:
    deadline = time.monotonic() + limit
    while True:
        if process.poll() is not None:
            raise RuntimeError("the Prefect server exited; see prefect-server.log")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Prefect server did not start within {limit:g} s")
        time.sleep(0.5)


@contextlib.contextmanager
def prefect_server(tmp: Path) -> Iterator[str]:
    """Run ``prefect server start`` (SQLite, home under ``tmp``); yield its API URL."""
    port = free_port()
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        PREFECT_HOME=str(tmp / "server-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    prefect_cli = Path(sys.executable).parent / "prefect"
    with open(tmp / "prefect-server.log", "w") as out:
        process = subprocess.Popen(
            [str(prefect_cli), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(process, url)
        yield url
    finally:
        stop(process)


@contextlib.contextmanager
def emulator(tmp: Path) -> Iterator[dict[str, Any]]:
    """Run ``qcsc-runtime-emulator serve --noise none --latency``; yield its start-up line."""
    cli = Path(sys.executable).parent / "qcsc-runtime-emulator"
    with open(tmp / "emulator.log", "w") as errors:
        process = subprocess.Popen(
            [
                *(str(cli), "serve", "--port", "0", "--noise", "none"),
                *("--latency", str(SERVICE_LATENCY)),
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the emulator did not start; see emulator.log")
            yield json.loads(line)
        finally:
            stop(process)


class Runner:
    """Starts workload processes against the shared servers and collects their records."""

    def __init__(self, tmp: Path, api_url: str, emu: dict[str, Any], pythons: dict[str, Path]):
        self.tmp = tmp
        self.api_url = api_url
        self.emu = emu
        self.pythons = pythons
        self.count = 0
        #: The emulator's control API (never counted as a runtime request).
        self.control = EmulatorControl(emu["control_url"].removesuffix(CONTROL_PREFIX), timeout=60)
        os.environ["QCSC_BENCH_CONTROL_URL"] = emu["control_url"]

    def env(self, storage: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a workload process: both servers, its own result storage."""
        env = dict(os.environ)
        env.update(self.emu["env"])
        env.update(
            QCSC_BENCH_CONTROL_URL=self.emu["control_url"],
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(self.tmp / "client-home"),
            PREFECT_LOCAL_STORAGE_PATH=str(self.tmp / "storage" / storage),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra or {})
        return env

    def start(
        self,
        impl: str,
        script: str,
        args: list[str],
        storage: str = "default",
        extra_env: dict[str, str] | None = None,
        python: Path | None = None,
    ) -> tuple[subprocess.Popen[str], Path]:
        """Start ``script`` with ``impl``'s interpreter; its stderr goes to a log file."""
        self.count += 1
        logfile = self.tmp / "logs" / f"{self.count:03d}-{Path(script).stem}-{impl}.log"
        logfile.parent.mkdir(parents=True, exist_ok=True)
        interpreter = python or self.pythons[impl]
        with open(logfile, "w") as stderr:  # the child keeps its own copy
            process = subprocess.Popen(
                [str(interpreter), str(WORK / script), *args],
                env=self.env(storage, extra_env),
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=str(ROOT),
            )
        return process, logfile

    @staticmethod
    def collect(process: subprocess.Popen[str], logfile: Path, timeout: float = 900) -> Outcome:
        """Wait for a started process; parse its ``BENCH`` records."""
        stdout, _ = process.communicate(timeout=timeout)
        records = [
            json.loads(line[len(MARKER) :])
            for line in stdout.splitlines()
            if line.startswith(MARKER)
        ]
        tail = ""
        if process.returncode != 0:
            tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-8:])
        return records, process.returncode, tail

    def run(self, impl: str, script: str, args: list[str], **kwargs: Any) -> Outcome:
        """Start a workload process and wait for it."""
        process, logfile = self.start(impl, script, args, **kwargs)
        return self.collect(process, logfile)

    def reset(self) -> None:
        """Forget every job, fault and setting of the emulator."""
        self.control.reset()

    def jobs(self) -> list[dict[str, Any]]:
        """The emulator's job records (control API)."""
        return self.control.jobs()

    def requests(self) -> dict[str, int]:
        """Runtime requests logged since the last clear, by kind."""
        return count_requests(self.control.log())
