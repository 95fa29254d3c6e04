"""Every state change is persisted: a restarted emulator serves the same state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from qiskit_ibm_runtime import Batch, QiskitRuntimeService, SamplerV2, Session

from qcsc_runtime_emulator import RuntimeEmulator

if TYPE_CHECKING:
    from conftest import Restartable

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _summaries(emulator: RuntimeEmulator) -> dict[str, dict[str, Any]]:
    return {job["id"]: job for job in emulator.control.jobs()}


def test_every_state_change_survives_a_restart(restartable: Restartable, bell: Any) -> None:
    service = QiskitRuntimeService()
    fez = service.backend("ibm_fez")
    ctl = restartable.emulator.control

    # A completed job whose result was read twice and whose tags were replaced.
    done = SamplerV2(mode=fez).run([bell], shots=20)
    done.result(timeout=30)
    done.result(timeout=30)
    done.update_tags(["after:update"])
    # A job cancelled while queued, and one still queued.
    ctl.configure(paused=True)
    cancelled = SamplerV2(mode=fez).run([bell], shots=21)
    cancelled.cancel()
    queued = SamplerV2(mode=fez).run([bell], shots=22)
    # A batch that was closed and a session that is still open.
    batch = Batch(backend=fez)
    batch.close()
    session = Session(backend=fez)
    before = _summaries(restartable.emulator)

    emulator = restartable.restart()
    after = _summaries(emulator)
    assert set(after) == set(before) == {done.job_id(), cancelled.job_id(), queued.job_id()}
    for job_id in (done.job_id(), cancelled.job_id()):
        assert after[job_id] == before[job_id]
    assert after[done.job_id()]["result_reads"] == 2
    # The pause is configuration, not state: the restarted emulator runs the queued job.
    assert after[queued.job_id()]["created"] == before[queued.job_id()]["created"]

    assert service.job(done.job_id()).tags == ["after:update"]
    assert service.jobs(job_tags=["after:update"])[0].job_id() == done.job_id()
    assert service.job(cancelled.job_id()).status() == "CANCELLED"
    assert service.job(queued.job_id()).result(timeout=30)[0].data.meas.num_shots == 22
    assert _summaries(emulator)[done.job_id()]["result_reads"] == 2

    assert batch.details()["accepting_jobs"] is False
    assert batch.status() == "Closed"
    assert Session.from_id(session.session_id, service).details()["accepting_jobs"] is True
    session.cancel()
    emulator = restartable.restart()
    assert Session.from_id(session.session_id, service).status() == "Closed"


def test_session_activity_survives_a_restart(restartable: Restartable, bell: Any) -> None:
    service = QiskitRuntimeService()
    fez = service.backend("ibm_fez")
    with Session(backend=fez) as session:
        SamplerV2(mode=session).run([bell], shots=10).result(timeout=30)
        before = session.details()
    restartable.restart()
    after = Session.from_id(session.session_id, service).details()
    for key in ("activated_at", "last_job_started", "last_job_completed", "mode", "max_time"):
        assert after[key] == before[key]
    assert after["accepting_jobs"] is False  # closed by the context manager
