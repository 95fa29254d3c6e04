"""The chaos run's handle on its stack: bring-up, service restarts, lock and flow-run queries.

The stack is `qcsc_stack.Stack` in its own directory (`.stack-chaos/` by default),
brought up without workers: the hosts are processes this driver starts with a stack host's
environment (`_hosts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _netns import INSIDE_IP, OUTSIDE_IP, Namespace, Relay

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "benchmarks" / "locks"))
sys.path.insert(0, str(REPO / "benchmarks"))

import qcsc_stack  # noqa: E402

if TYPE_CHECKING:
    from types import ModuleType


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


class Chaos:
    """The stack, the emulator's control API, PostgreSQL and the cut-off host's network.

    Args:
        directory: The stack's state directory.
        latency: Seconds the emulator waits before each answer (the load test's model).
    """

    def __init__(self, directory: Path, latency: float) -> None:
        self.stack_module: ModuleType = qcsc_stack
        self.stack = self.stack_module.Stack(directory)
        self.options = self.stack_module.Options(
            directory=directory, workers=0, ui=False, timeout=180.0
        )
        self.latency = latency
        self.work = self.stack.dir / "chaos" / time.strftime("%Y%m%d-%H%M%S")
        self.namespace = Namespace()
        self.relay: Relay | None = None
        self.env: dict[str, str] = {}
        self.control: Any = None
        self.postgres: Any = None

    # ------------------------------------------------------------------ bring-up, tear-down

    def up(self) -> None:
        """Bring the stack up, let PostgreSQL listen on the veth pair, relay the rest."""
        self.env = self.stack.up(self.options)
        state = self.stack_module.State.load(self.stack.state_path)
        self.namespace.up()
        self.postgres = self.stack_module.Postgres(
            self.stack.pg_dir,
            state.pg_port,
            listen=("127.0.0.1", OUTSIDE_IP),
            hba_hosts=(f"{INSIDE_IP}/32",),
        )
        self.postgres.init()  # rewrites the settings with the extra listen address
        self.postgres.stop()
        self.postgres.start()
        self.relay = Relay([state.server_port, state.emulator_port])
        self.relay.start()
        os.environ.update(self.env)
        os.environ["PREFECT_HOME"] = str(self.work / "driver-home")
        from qcsc_runtime_emulator import EmulatorControl

        self.control = EmulatorControl(self.env["QCSC_EMULATOR_URL"])
        self.control.clear_faults()
        self.control.configure(latency=self.latency)
        self._wait_api()

    def down(self, *, clean: bool) -> None:
        """Stop the relay, the namespace and the stack (delete its directory if ``clean``)."""
        if self.relay is not None:
            self.relay.stop()
        self.namespace.down()
        self.stack.down(clean=clean)

    def _wait_api(self, timeout: float = 120.0) -> None:
        """Wait until the Prefect API answers its health check."""
        url = self.env["PREFECT_API_URL"].rstrip("/") + "/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"the Prefect API did not answer within {timeout} s")

    # ------------------------------------------------------------------ hosts' environments

    def host_env(self, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A stack host's environment (its own HOME, PREFECT_HOME, lock dir, storage)."""
        env: dict[str, str] = self.stack_module.host_env(self.stack.host_dir(name), self.env)
        return {**env, **(extra or {})}

    def outside_env(self, name: str) -> dict[str, str]:
        """The cut-off host's environment: every service reached over the veth pair."""
        joining = {key: value.replace("127.0.0.1", OUTSIDE_IP) for key, value in self.env.items()}
        env: dict[str, str] = self.stack_module.host_env(self.stack.host_dir(name), joining)
        return env

    # ------------------------------------------------------------------ faults of the services

    def restart_postgres(self) -> float:
        """Restart PostgreSQL (fast shutdown ends every session); return the seconds it was down."""
        started = time.monotonic()
        self.postgres.stop()
        self.postgres.start()
        return time.monotonic() - started

    def restart_server(self) -> float:
        """Stop the Prefect server and start it again; return the seconds until it answered."""
        pid = self.stack_module.State.load(self.stack.state_path).server_pid
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not _gone(pid):
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.stack.up(self.options)  # starts what is not running: the server
        self._wait_api()
        return time.monotonic() - started

    # ------------------------------------------------------------------ observations

    def locks_held(self, pid: int | None = None) -> int:
        """Advisory locks granted now (to the session of process ``pid`` only, if given)."""
        owner = f"AND a.application_name LIKE '% pid {int(pid)}'" if pid is not None else ""
        out = self.postgres.psql(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            f"WHERE l.locktype = 'advisory' AND l.granted {owner};"
        )
        return int(out.strip() or 0)

    def flow_run_states(self, name_part: str) -> dict[str, str]:
        """State type of every flow run whose name contains ``name_part`` (Prefect API), by id."""

        async def read() -> dict[str, str]:
            from prefect.client.orchestration import get_client
            from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

            async with get_client() as client:
                runs = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name_part))
                )
            return {str(run.id): run.state.type.value if run.state else "NONE" for run in runs}

        return asyncio.run(read())

    def jobs(self) -> list[dict[str, Any]]:
        """Every job the emulator holds."""
        jobs: list[dict[str, Any]] = self.control.jobs()
        return jobs
