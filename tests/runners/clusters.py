"""The task runners of the matrix: started once per test module, handed to each flow, and able to
kill the process that runs a task.

Every runner's worker processes get the environment of `worker_environment`: this run's Prefect
API (a harness setting, not an environment variable of the test process), result storage and lock
directory (inherited), and the Runtime emulator's account variables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

#: How long a cluster may take to start its workers (2 busy cores: imports take seconds).
START_TIMEOUT = 120.0

#: How long to wait for the task to be seen running somewhere before giving up.
FIND_TIMEOUT = 60.0

_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Runner:
    """One task runner of the matrix.

    Attributes:
        name: A short name for test ids and messages.
        task_runner: Builds a new task runner for one flow (a flow run enters and leaves it).
        kill_task_process: Kills the process that runs the one task now running, and returns
            its pid; ``None`` when tasks run in the flow's own process.
    """

    name: str
    task_runner: Callable[[], TaskRunner[Any]]
    kill_task_process: Callable[[], int] | None = None


def thread_pool() -> Runner:
    """Prefect's default runner: tasks run in threads of the flow's process."""
    return Runner("thread", lambda: ThreadPoolTaskRunner(max_workers=4))


# --------------------------------------------------------------------------- Dask


def _kill_dask_task_worker(client: Any) -> int:
    """SIGKILL the Dask worker process that is running a task; the scheduler reschedules it."""
    deadline = time.monotonic() + FIND_TIMEOUT
    while True:
        busy = [address for address, keys in client.processing().items() if keys]
        if busy:
            break
        if time.monotonic() > deadline:
            raise AssertionError("no Dask worker is running a task")
        time.sleep(0.1)
    pid = int(client.run(os.getpid, workers=busy[:1])[busy[0]])
    os.kill(pid, signal.SIGKILL)
    return pid


@contextmanager
def dask_local_cluster(env: dict[str, str]) -> Iterator[Runner]:
    """A `distributed.LocalCluster` with 2 worker processes (1 thread each) in this process's care.

    The nannies start the worker processes with ``env`` and restart a killed one.
    """
    from distributed import Client, LocalCluster
    from prefect_dask import DaskTaskRunner

    with ExitStack() as stack:
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",  # its HTTP server on a free port, never 8787
                env=env,
            )
        )
        client = stack.enter_context(Client(cluster, set_as_default=False))
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        address = cluster.scheduler_address
        yield Runner(
            "dask-local",
            lambda: DaskTaskRunner(address=address),
            lambda: _kill_dask_task_worker(client),
        )


@contextmanager
def dask_cli_cluster(env: dict[str, str], state: Path) -> Iterator[Runner]:
    """A scheduler and 2 workers started with the ``dask`` CLI, each in its own process group.

    Each ``dask worker`` is a nanny with one worker process (1 thread); a killed worker process is
    restarted by its nanny, and its task is rescheduled by the scheduler.
    """
    from distributed import Client
    from prefect_dask import DaskTaskRunner

    scheduler_file = state / "scheduler.json"
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> None:
        with (state / f"{name}.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    [str(_BIN / "dask"), *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
              "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
              "--scheduler-file", str(scheduler_file))  # fmt: skip
        _wait_for_file(scheduler_file, started[0])
        for index in range(2):
            start(f"worker-{index}", "worker", "--scheduler-file", str(scheduler_file),
                  "--nthreads", "1", "--no-dashboard", "--name", f"worker-{index}",
                  "--host", "127.0.0.1")  # fmt: skip
        with Client(scheduler_file=str(scheduler_file), set_as_default=False) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
            address = client.scheduler.address
            yield Runner(
                "dask-cli",
                lambda: DaskTaskRunner(address=address),
                lambda: _kill_dask_task_worker(client),
            )
    finally:
        _stop(reversed(started))


def _wait_for_file(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the Dask scheduler exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Dask scheduler wrote no {path.name}")
        time.sleep(0.1)


def _stop(processes: Iterator[subprocess.Popen[bytes]]) -> None:
    """Stop the processes this module started (their process groups), politely then not."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --------------------------------------------------------------------------- Ray


def _kill_ray_task_worker(task_name: str) -> int:
    """SIGKILL the Ray worker process running ``task_name`` (a child of this process's raylet).

    A Ray worker names its process ``ray::<task name>`` while it runs a task; Ray retries a task
    whose worker process died.
    """
    import psutil

    deadline = time.monotonic() + FIND_TIMEOUT
    while time.monotonic() < deadline:
        for child in psutil.Process().children(recursive=True):
            try:
                title = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if title.startswith(f"ray::{task_name}"):
                child.kill()
                return int(child.pid)
        time.sleep(0.1)
    raise AssertionError(f"no Ray worker is running {task_name}")


@contextmanager
def ray_local_cluster(env: dict[str, str]) -> Iterator[Runner]:
    """A local Ray instance started by (and connected to) this process, 2 CPUs.

    The flows' `RayTaskRunner` finds Ray initialized and uses it; the workers get ``env`` through
    the job's ``runtime_env``.
    """
    import ray
    from prefect_ray import RayTaskRunner

    ray.init(
        address="local",  # a new instance of our own, never a cluster found on the machine
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        runtime_env={"env_vars": env},
        namespace="prefect",
        log_to_driver=False,
    )
    try:
        yield Runner(
            "ray",
            lambda: RayTaskRunner(),
            lambda: _kill_ray_task_worker("submit_sampler_job_task"),
        )
    finally:
        ray.shutdown()
