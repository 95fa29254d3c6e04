"""State directory, restarts and fetching from another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from qiskit_ibm_runtime import SamplerV2

from qcsc_runtime_emulator import RuntimeEmulator

if TYPE_CHECKING:
    from conftest import Restartable

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FETCH = """
import json, sys, warnings
warnings.simplefilter("ignore")
from qiskit_ibm_runtime import QiskitRuntimeService
job = QiskitRuntimeService().job(sys.argv[1])
print(json.dumps({"status": job.status(), "tags": job.tags,
                  "counts": job.result()[0].data.meas.get_counts()}))
"""


def test_fetch_from_another_process(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    sampler = SamplerV2(mode=fez)
    sampler.options.environment.job_tags = ["cross"]
    job = sampler.run([bell], shots=100)
    job.result(timeout=30)
    env = {**os.environ, **runtime_emulator.env()}
    out = subprocess.run(
        [sys.executable, "-c", FETCH, job.job_id()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["status"] == "DONE" and data["tags"] == ["cross"]
    assert sum(data["counts"].values()) == 100


def test_restart_keeps_finished_and_requeues_inflight(restartable: Restartable, bell: Any) -> None:
    state = restartable.state_dir
    service, done, inflight = restartable.finished_and_inflight(SamplerV2, bell, (50, 60))
    assert inflight.status() == "QUEUED"
    restartable.stop()
    assert (state / "jobs" / f"{done.job_id()}.json").exists()
    assert (state / "results" / f"{done.job_id()}.json").exists()
    restartable.restart()
    # The same service (and its pooled connections) keeps working.
    assert service.job(done.job_id()).result()[0].data.meas.num_shots == 50
    requeued = service.job(inflight.job_id())
    assert requeued.result(timeout=30)[0].data.meas.num_shots == 60
    assert len(service.jobs()) == 2


def test_memory_state_is_lost_on_restart(runtime_emulator_server: RuntimeEmulator) -> None:
    with RuntimeEmulator() as emu:
        assert emu.control.job_count() == 0
        assert emu.app.store.state_dir is None
