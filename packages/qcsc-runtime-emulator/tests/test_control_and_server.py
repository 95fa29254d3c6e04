"""Control API, malformed input, CLI, concurrency, validation and noise."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit_ibm_runtime import QiskitRuntimeService, RuntimeEncoder, SamplerV2

from qcsc_runtime_emulator import EmulatorControl, RuntimeEmulator
from qcsc_runtime_emulator.client import EmulatorControlError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def token(emu: RuntimeEmulator) -> str:
    data = f"grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey={emu.app.api_key}"
    req = urllib.request.Request(emu.url + "/identity/token", data=data.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["access_token"].count(".") == 2 and body["expires_in"] > 0
    return str(body["access_token"])


def call(
    emu: RuntimeEmulator,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    hdrs = {
        "Authorization": f"Bearer {token(emu)}",
        "Service-CRN": emu.app.instance,
        "Content-Type": "application/json",
        **(headers or {}),
    }
    req = urllib.request.Request(emu.runtime_url + path, data=body, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode() or "null")


def test_control_faults_and_config(runtime_emulator: RuntimeEmulator) -> None:
    ctl = EmulatorControl(runtime_emulator.url)
    assert ctl.health()
    fault = ctl.add_fault("GET", r"/jobs/[^/]+$", {"status": 503}, times=2)
    assert fault["remaining"] == 2
    assert [f["id"] for f in ctl.faults()] == [fault["id"]]
    ctl.clear_faults()
    assert ctl.faults() == []
    for bad in (
        {"status": 99},
        {"reset": False},
        {"delay": -1},
        {},
        {"status": 500, "reset": True},
    ):
        with pytest.raises(EmulatorControlError) as info:
            ctl.add_fault("GET", "/x", bad)
        assert info.value.status == 400
    with pytest.raises(EmulatorControlError):
        ctl.add_fault("GET", "([", {"status": 500})
    config = ctl.configure(
        queue_delay=0.5, noise="reduced", paused=True, run_delay=0.1, latency=0.02
    )
    assert config == {
        "queue_delay": 0.5,
        "noise": "reduced",
        "paused": True,
        "run_delay": 0.1,
        "latency": 0.02,
        "usage_limit_seconds": None,
        "usage_consumed_seconds": 0.0,
    }
    with pytest.raises(EmulatorControlError):
        ctl.configure(noise="loud")
    with pytest.raises(EmulatorControlError):
        ctl.configure(latency=-1)
    ctl.reset()
    assert ctl.config()["paused"] is False and ctl.config()["noise"] == "none"
    with pytest.raises(EmulatorControlError) as info:
        ctl.set_job_state("nope", "Failed")
    assert info.value.status == 404


def _mean_seconds(session: Any, url: str, count: int = 10) -> float:
    session.get(url, timeout=10)  # open the kept-alive connection
    started = time.perf_counter()
    for _ in range(count):
        session.get(url, timeout=10)
    return (time.perf_counter() - started) / count


def test_latency_is_only_what_is_configured(runtime_emulator: RuntimeEmulator) -> None:
    """A kept-alive request is answered at once; ``latency`` delays service requests only."""
    import requests

    service_url = runtime_emulator.runtime_url + "/backends"  # 401 without a token: still served
    control_url = runtime_emulator.url + "/_emulator/health"
    with requests.Session() as session:
        assert _mean_seconds(session, service_url) < 0.02  # no Nagle/delayed-ACK stall
        runtime_emulator.control.configure(latency=0.05)
        assert 0.05 <= _mean_seconds(session, service_url) < 0.09
        assert _mean_seconds(session, control_url) < 0.02
    runtime_emulator.control.reset()
    assert runtime_emulator.control.config()["latency"] == 0.0


def test_fault_applies_to_iam(runtime_emulator: RuntimeEmulator) -> None:
    runtime_emulator.control.add_fault("POST", r"^/identity/token$", {"status": 400})
    with pytest.raises(Exception):  # noqa: B017
        QiskitRuntimeService()
    assert runtime_emulator.control.faults() == []


def test_malformed_requests_are_400(runtime_emulator: RuntimeEmulator) -> None:
    assert call(runtime_emulator, "POST", "/jobs", b"{not json")[0] == 400
    assert call(runtime_emulator, "POST", "/jobs", b"[1, 2]")[0] == 400
    assert call(runtime_emulator, "POST", "/jobs", b'{"program_id": "sampler"}')[0] == 400
    status, body = call(
        runtime_emulator,
        "POST",
        "/jobs",
        json.dumps({"program_id": "sampler", "backend": "ibm_fez", "params": {"pubs": 3}}).encode(),
    )
    assert status == 400 and body["errors"][0]["message"]
    assert (
        call(
            runtime_emulator,
            "POST",
            "/jobs",
            b'{"program_id": "nope", "backend": "ibm_fez", "params": {"pubs": []}}',
        )[0]
        == 404
    )
    assert call(runtime_emulator, "GET", "/jobs?limit=abc")[0] == 400
    assert call(runtime_emulator, "GET", "/jobs?created_after=yesterday")[0] == 400
    assert call(runtime_emulator, "GET", "/backends/ibm_nowhere/configuration")[0] == 404
    assert call(runtime_emulator, "PATCH", "/jobs")[0] == 405
    status, body = call(runtime_emulator, "GET", "/jobs", headers={"Service-CRN": "crn:other"})
    assert status == 403 and body["status_code"] == 403
    assert (
        call(runtime_emulator, "GET", "/jobs", headers={"Authorization": "Bearer x.y.z"})[0] == 401
    )
    assert runtime_emulator.control.health()


def failed_job(emu: RuntimeEmulator, job_id: str) -> Any:
    doc = call(emu, "GET", f"/jobs/{job_id}")[1]
    return doc if doc["state"]["status"] == "Failed" else None


def test_server_side_validation_fails_job(runtime_emulator: RuntimeEmulator, until: Any) -> None:
    qc = QuantumCircuit(2)
    qc.h(0)  # not an ISA instruction on Heron
    qc.cx(0, 1)
    qc.measure_all()
    wide = QuantumCircuit(200)
    wide.measure_all()
    for circuit, code in ((qc, 1517), (wide, 1519)):
        params = json.loads(
            json.dumps({"pubs": [(circuit, None, 10)], "version": 2}, cls=RuntimeEncoder)
        )
        body = json.dumps({"program_id": "sampler", "backend": "ibm_fez", "params": params})
        status, created = call(runtime_emulator, "POST", "/jobs", body.encode())
        assert status == 200
        job = until(lambda job_id=created["id"]: failed_job(runtime_emulator, job_id))
        assert job["state"]["reason_code"] == code


def test_concurrent_clients(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    ids: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(10)

    def submit() -> None:
        try:
            sampler = SamplerV2(mode=fez)
            barrier.wait(10)
            ids.append(sampler.run([bell], shots=10).job_id())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(set(ids)) == 10
    service = QiskitRuntimeService()
    for job_id in ids:
        assert service.job(job_id).result(timeout=60)[0].data.meas.num_shots == 10


def test_reduced_noise_small_device(runtime_emulator: RuntimeEmulator, service: Any) -> None:
    from qiskit import transpile

    manila = service.backend("ibmq_manila")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    isa = transpile(qc, manila, optimization_level=1, seed_transpiler=1)
    runtime_emulator.control.configure(noise="reduced")
    counts = (
        SamplerV2(mode=manila).run([isa], shots=2000).result(timeout=60)[0].data.meas.get_counts()
    )
    assert counts.get("00", 0) + counts.get("11", 0) > 1600
    assert len(counts) > 2  # noise produces 01/10 outcomes


def test_cli_serve_prints_json_line(tmp_path: Any) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qcsc_runtime_emulator.cli",
            "serve",
            "--state-dir",
            str(tmp_path),
            "--queue-delay",
            "0.25",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["url"].startswith("http://127.0.0.1:")
        assert info["env"]["QISKIT_IBM_URL"] == info["service_kwargs"]["url"]
        ctl = EmulatorControl(info["url"])
        assert ctl.health() and ctl.config()["queue_delay"] == 0.25
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_garbage_on_the_wire_does_not_kill_the_server(runtime_emulator: RuntimeEmulator) -> None:
    import socket

    raws = [
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"POST /identity/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n\xff\xfe\x00ab",
    ]
    for raw in raws:
        with socket.create_connection(("127.0.0.1", runtime_emulator.port), timeout=5) as sock:
            sock.sendall(raw)
            assert b"400" in sock.recv(400)
    assert runtime_emulator.control.health()
