"""Endpoint canary: the client must call exactly the endpoints the emulator knows."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from qiskit_ibm_runtime import Batch, EstimatorV2, QiskitRuntimeService, SamplerV2, Session

from qcsc_runtime_emulator import RuntimeEmulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ID = "{id}"

EXPECTED = {
    ("POST", "/identity/token"),
    ("POST", "/gs/v3/resources/search"),
    ("GET", "/gc/api/v1/{id}"),
    ("GET", "/backends"),
    ("GET", "/backends/{id}/configuration"),
    ("GET", "/backends/{id}/properties"),
    ("GET", "/backends/{id}/status"),
    ("GET", "/instances/usage"),
    ("POST", "/jobs"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{id}"),
    ("GET", "/jobs/{id}/results"),
    ("POST", "/jobs/{id}/cancel"),
    ("GET", "/jobs/{id}/metrics"),
    ("GET", "/jobs/{id}/logs"),
    ("PUT", "/jobs/{id}/tags"),
    ("DELETE", "/jobs/{id}"),
    ("POST", "/sessions"),
    ("GET", "/sessions/{id}"),
    ("PATCH", "/sessions/{id}"),
    ("DELETE", "/sessions/{id}/close"),
}


def normalise(entry: dict[str, Any]) -> tuple[str, str]:
    path = entry["route_path"]
    path = re.sub(r"^/gc/api/v1/[^/]+$", "/gc/api/v1/{id}", path)
    path = re.sub(r"^/backends/[^/]+/", "/backends/{id}/", path)
    path = re.sub(r"^/(jobs|sessions)/[^/]+", r"/\1/{id}", path)
    return entry["method"], path


def test_endpoint_canary(
    runtime_emulator: RuntimeEmulator, bell: Any, bell_estimator_pub: Any
) -> None:
    runtime_emulator.control.clear_log()
    service = QiskitRuntimeService()
    fez = service.backend("ibm_fez")
    fez.status()
    sampler = SamplerV2(mode=fez)
    sampler.options.environment.job_tags = ["canary"]
    job = sampler.run([bell], shots=10)
    job.result(timeout=30)
    job.metrics()
    job.logs()
    job.update_tags(["canary", "x"])
    assert service.jobs(job_tags=["canary"])
    with pytest.raises(Exception):  # noqa: B017 - 409 on a final job
        job.cancel()
    EstimatorV2(mode=fez).run([bell_estimator_pub]).result(timeout=30)
    with Session(backend=fez) as session:
        SamplerV2(mode=session).run([bell], shots=10).result(timeout=30)
        session.details()
    batch = Batch(backend=fez)
    SamplerV2(mode=batch).run([bell], shots=10).result(timeout=30)
    batch.cancel()
    service.delete_job(job.job_id())

    log = runtime_emulator.control.log()
    unknown = [e for e in log if not e["known"]]
    assert unknown == [], f"client called endpoints the emulator does not know: {unknown}"
    called = {normalise(e) for e in log if e["kind"] != "control"}
    assert called == EXPECTED, (called - EXPECTED, EXPECTED - called)


def test_unknown_endpoint_is_404_and_logged(runtime_emulator: RuntimeEmulator) -> None:
    runtime_emulator.control.clear_log()
    req = urllib.request.Request(runtime_emulator.url + "/api/v1/workloads")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 404
    (entry,) = [e for e in runtime_emulator.control.log() if e["kind"] != "control"]
    assert entry["route_path"] == "/workloads" and entry["status"] == 404
    assert entry["known"] is False
