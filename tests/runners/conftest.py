"""Fixtures of the task-runner matrix.

The circuits and helpers are the integration tests' own fixtures, imported (pytest registers
fixtures a conftest imports), so both suites submit the same inputs.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import fez_backend, isa_bell, live_jobs, worker_environment

__all__ = ["fez_backend", "isa_bell", "live_jobs", "runner_env", "worker_env_full"]


@pytest.fixture(scope="session")
def worker_env_full(runtime_emulator_server: Any) -> dict[str, str]:
    """The whole environment of a worker process started from scratch (the ``dask`` CLI)."""
    return worker_environment(runtime_emulator_server)


@pytest.fixture(scope="session")
def runner_env(runtime_emulator_server: Any, worker_env_full: dict[str, str]) -> dict[str, str]:
    """What a worker process needs on top of this process's environment.

    This run's Prefect API URL (a harness setting here, not a variable) and the emulator's
    account variables; storage and lock paths are inherited from this process.
    """
    names = [*runtime_emulator_server.env(), "PREFECT_API_URL"]
    return {name: worker_env_full[name] for name in names}
