"""Test-run set-up: one real Prefect server per pytest run, isolated state, no network.

Prefect reads its settings when it is first imported, so the environment is prepared at the
top of this module, before anything imports prefect.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

_STATE_DIR = Path(tempfile.mkdtemp(prefix="qcsc-prefect-tests-"))
os.environ["PREFECT_HOME"] = str(_STATE_DIR / "prefect-home")
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(_STATE_DIR / "prefect-storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("DO_NOT_TRACK", "1")
# Tasks called outside a flow would warn that their logs have no flow run to go to.
os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] = "ignore"

if "prefect" in sys.modules:  # pragma: no cover - a plugin imported prefect first
    raise RuntimeError(
        "prefect was imported before tests/conftest.py could isolate PREFECT_HOME; "
        "find the plugin that imports it at collection time"
    )

import pytest  # noqa: E402
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

#: The directories the tests may search for leaked secrets.
STATE_DIR = _STATE_DIR


@pytest.fixture(autouse=True, scope="session")
def prefect_server() -> Iterator[None]:
    """A real Prefect API (SQLite in a temp dir) shared by the whole run; heartbeat off."""
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with prefect_test_harness(server_startup_timeout=120):
            yield


@pytest.fixture(autouse=True)
def _fresh_result_storage() -> None:
    """Start every test with empty Prefect result storage.

    The emulator forgets its jobs between tests, so a submit-cache entry left by an earlier
    test would point at a job that no longer exists: each test starts with no cached records.
    """
    storage = Path(os.environ["PREFECT_LOCAL_STORAGE_PATH"])
    if storage.exists():
        for entry in storage.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test starts with the library's process-wide tables empty (`_state.reset`).

    Tests switch environment variables, so each builds its own native services; job handles,
    call counters, usage tables and execution modes of earlier tests are forgotten too.
    """
    yield
    state = sys.modules.get("qcsc_prefect.integrations.qiskit._state")
    if state is not None:
        state.reset()


@pytest.fixture(scope="session")
def state_dir() -> Path:
    """The directory holding this run's PREFECT_HOME and result storage."""
    return _STATE_DIR


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the run's state directory (Prefect home, result storage) once pytest is done."""
    shutil.rmtree(_STATE_DIR, ignore_errors=True)
