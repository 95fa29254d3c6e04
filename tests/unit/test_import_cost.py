"""What a flow run loads by importing the robust tasks: nothing it does not use.

Each flow run on a deployment is a fresh process, so every module the library imports is paid
for by every run. These tests import what a robust flow imports in a fresh interpreter and look
at ``sys.modules``: the PostgreSQL driver only arrives with a PostgreSQL lock, the emulator
never. (Batch/Session and executor machinery is not on the list: ``import qiskit_ibm_runtime``
loads it itself, so deferring ours would save nothing; docs/performance.md has the figures.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

ROBUST_FLOW_IMPORTS = """
import json, sys
from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_result_fetch_cache_key,
    qiskit_sampler_submit_cache_key,
    submit_estimator_job_task,
    submit_sampler_job_task,
)
from qcsc_prefect.integrations.qiskit.locking import submit_lock_for

WATCHED = ("asyncpg", "qcsc_runtime_emulator", "qcsc_prefect.integrations.qiskit._pglock")

def loaded():
    return [name for name in WATCHED if name in sys.modules]

report = {"imported": loaded()}
submit_lock_for(None)  # the single-host lock every robust submit takes without a lock URL
report["flock"] = loaded()
"""

POSTGRES_LOCK = """
import asyncio
from qcsc_prefect.integrations.qiskit.errors import SubmitLockError

lock = submit_lock_for("postgresql://nobody@127.0.0.1:1/none")  # nothing listens on port 1
report["built"] = loaded()
try:
    asyncio.run(lock.acquire("import-cost", timeout=0.5))
except SubmitLockError as exc:
    report["error"] = type(exc).__name__
report["acquired"] = loaded()
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One fresh interpreter: the robust flow's imports, then a PostgreSQL lock's first use."""
    tmp = tmp_path_factory.mktemp("import-cost")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "QCSC_QISKIT_"))}
    env["PREFECT_HOME"] = str(tmp / "prefect-home")
    env["QCSC_QISKIT_LOCK_DIR"] = str(tmp / "locks")
    script = ROBUST_FLOW_IMPORTS + POSTGRES_LOCK + "\nprint(json.dumps(report))"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_the_robust_tasks_load_neither_the_postgres_driver_nor_the_emulator(
    report: dict[str, Any],
) -> None:
    assert report["imported"] == []
    assert report["flock"] == []


def test_a_postgres_lock_url_loads_the_driver_on_first_use(report: dict[str, Any]) -> None:
    assert report["built"] == ["qcsc_prefect.integrations.qiskit._pglock"]
    assert report["error"] == "SubmitLockError"
    assert report["acquired"] == ["asyncpg", "qcsc_prefect.integrations.qiskit._pglock"]
