"""Every row of the error matrix (runtime-notes §6.2), through the real client."""

from __future__ import annotations

import time
from typing import Any

import pytest
from ibm_cloud_sdk_core import ApiException
from qiskit.providers.exceptions import QiskitBackendNotFoundError
from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2
from qiskit_ibm_runtime.accounts import InvalidAccountError
from qiskit_ibm_runtime.api.exceptions import RequestsApiError
from qiskit_ibm_runtime.exceptions import (
    IBMNotAuthorizedError,
    IBMRuntimeError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobMaxTimeoutError,
    RuntimeJobNotFound,
    RuntimeJobTimeoutError,
    RuntimeProgramNotFound,
)

from qcsc_runtime_emulator import RuntimeEmulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

JOB = r"/jobs/[^/]+$"


def http_status(exc: BaseException | None) -> int | None:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, RequestsApiError):
            return int(exc.status_code)
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def status_error(job: Any) -> int:
    """The HTTP status of the ``RequestsApiError`` that ``job.status()`` must raise."""
    with pytest.raises(RequestsApiError) as info:
        job.status()
    return int(info.value.status_code)


def lookup_error(service: Any, job_id: str) -> BaseException:
    """The ``IBMRuntimeError`` that ``service.job(job_id)`` must raise."""
    with pytest.raises(IBMRuntimeError) as info:
        service.job(job_id)
    return info.value


def hits(emu: RuntimeEmulator, method: str, pattern: str) -> int:
    import re

    return sum(
        1
        for e in emu.control.log()
        if e["method"] == method and re.search(pattern, e["route_path"])
    )


@pytest.fixture
def done_job(fez: Any, bell: Any) -> Any:
    job = SamplerV2(mode=fez).run([bell], shots=10)
    job.result(timeout=30)
    return job


@pytest.fixture
def clean_log(runtime_emulator: RuntimeEmulator) -> RuntimeEmulator:
    runtime_emulator.control.clear_log()
    return runtime_emulator


# GET job ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "min_seconds"),
    [
        ({"status": 500}, 0.0),
        ({"status": 502}, 0.0),
        ({"status": 503}, 0.0),
        ({"status": 504}, 0.0),
        ({"reset": True}, 0.0),
        ({"status": 429, "headers": {"Retry-After": "1"}}, 1.9),
    ],
    ids=["500", "502", "503", "504", "reset", "429-retry-after"],
)
def test_get_job_transient_twice_then_ok(
    runtime_emulator: RuntimeEmulator,
    service: Any,
    done_job: Any,
    action: dict[str, Any],
    min_seconds: float,
) -> None:
    job = service.job(done_job.job_id())
    runtime_emulator.control.clear_log()
    runtime_emulator.control.add_fault("GET", JOB, action, times=2)
    start = time.monotonic()
    assert job.status() == "DONE"
    assert time.monotonic() - start >= min_seconds
    assert hits(runtime_emulator, "GET", JOB) == 3


@pytest.mark.slow  # the client's own backoff: over 10 s by design
def test_get_job_500_persistent(
    runtime_emulator: RuntimeEmulator, service: Any, done_job: Any
) -> None:
    job = service.job(done_job.job_id())
    runtime_emulator.control.clear_log()
    runtime_emulator.control.add_fault("GET", JOB, {"status": 500}, times=100)
    start = time.monotonic()
    assert status_error(job) == -1
    assert time.monotonic() - start > 10
    assert hits(runtime_emulator, "GET", JOB) == 6


@pytest.mark.slow
def test_service_job_503_persistent(
    runtime_emulator: RuntimeEmulator, service: Any, done_job: Any
) -> None:
    runtime_emulator.control.add_fault("GET", JOB, {"status": 503}, times=100)
    with pytest.raises(IBMRuntimeError) as info:
        service.job(done_job.job_id())
    assert http_status(info.value) == -1


def test_get_job_501(runtime_emulator: RuntimeEmulator, service: Any, done_job: Any) -> None:
    job = service.job(done_job.job_id())
    runtime_emulator.control.add_fault("GET", JOB, {"status": 501}, times=2)
    assert status_error(job) == 501
    error = lookup_error(service, done_job.job_id())
    assert not isinstance(error, RequestsApiError)
    assert http_status(error) == 501


def test_get_job_429_without_retry_after(
    runtime_emulator: RuntimeEmulator, service: Any, done_job: Any
) -> None:
    job = service.job(done_job.job_id())
    runtime_emulator.control.add_fault("GET", JOB, {"status": 429})
    assert status_error(job) == 429


@pytest.mark.slow
def test_get_job_reset_persistent(
    runtime_emulator: RuntimeEmulator, service: Any, done_job: Any
) -> None:
    job = service.job(done_job.job_id())
    runtime_emulator.control.add_fault("GET", JOB, {"reset": True}, times=100)
    assert status_error(job) == -1


def test_stalled_server_blocks(
    runtime_emulator: RuntimeEmulator, service: Any, done_job: Any
) -> None:
    job = service.job(done_job.job_id())
    runtime_emulator.control.add_fault("GET", JOB, {"delay": 1.5})
    start = time.monotonic()
    assert job.status() == "DONE"
    assert time.monotonic() - start >= 1.5


def test_401_and_403(runtime_emulator: RuntimeEmulator, service: Any, done_job: Any) -> None:
    job = service.job(done_job.job_id())
    runtime_emulator.control.add_fault("GET", JOB, {"status": 401})
    with pytest.raises(IBMNotAuthorizedError):
        job.status()
    runtime_emulator.control.add_fault("GET", JOB, {"status": 403}, times=2)
    assert status_error(job) == 403
    assert http_status(lookup_error(service, done_job.job_id())) == 403


def test_wrong_service_crn_is_403(
    runtime_emulator: RuntimeEmulator, monkeypatch: pytest.MonkeyPatch, done_job: Any
) -> None:
    other = "crn:v1:bluemix:public:quantum-computing:us-east:a/other:other::"
    kwargs = {**runtime_emulator.service_kwargs(), "instance": other}
    monkeypatch.setenv("QISKIT_FUNCTIONS_EXPERIMENTAL", "1")  # skip discovery of `other`
    service = QiskitRuntimeService(**kwargs)
    with pytest.raises(IBMRuntimeError) as info:
        service.job(done_job.job_id())
    assert http_status(info.value) == 403


def test_bad_api_key(runtime_emulator: RuntimeEmulator) -> None:
    kwargs = {**runtime_emulator.service_kwargs(), "token": "wrong-key"}
    with pytest.raises(InvalidAccountError) as info:
        QiskitRuntimeService(**kwargs)
    ctx = info.value.__cause__ or info.value.__context__
    assert isinstance(ctx, ApiException) and ctx.status_code == 400
    assert "BXNIM0415E" in str(ctx) or "could not be found" in str(ctx)


def test_iam_500(runtime_emulator: RuntimeEmulator) -> None:
    runtime_emulator.control.add_fault("POST", r"^/identity/token$", {"status": 500}, times=20)
    with pytest.raises(InvalidAccountError) as info:
        QiskitRuntimeService()
    ctx = info.value.__cause__ or info.value.__context__
    assert isinstance(ctx, ApiException) and ctx.status_code == 500


def test_unknown_job_404(service: Any) -> None:
    with pytest.raises(RuntimeJobNotFound):
        service.job("0123456789abcdefghij")


# POST /jobs ------------------------------------------------------------------------
def test_post_429(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    runtime_emulator.control.add_fault(
        "POST", r"/jobs$", {"status": 429, "headers": {"Retry-After": "1"}}
    )
    with pytest.raises(IBMRuntimeError) as info:
        SamplerV2(mode=fez).run([bell])
    assert http_status(info.value) == 429
    assert runtime_emulator.control.job_count() == 0


def test_create_then_502_duplicates(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    runtime_emulator.control.add_fault("POST", r"/jobs$", {"create_then_status": 502})
    sampler = SamplerV2(mode=fez)
    sampler.options.environment.job_tags = ["idem:dup"]
    job = sampler.run([bell], shots=10)
    jobs = runtime_emulator.control.jobs()
    assert len(jobs) == 2
    assert job.job_id() == jobs[1]["id"]
    assert all(j["tags"] == ["idem:dup"] for j in jobs)


@pytest.mark.parametrize("code", [400, 409])
def test_post_4xx(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any, code: int) -> None:
    runtime_emulator.control.add_fault("POST", r"/jobs$", {"status": code})
    with pytest.raises(IBMRuntimeError) as info:
        SamplerV2(mode=fez).run([bell])
    assert http_status(info.value) == code


def test_post_404_program_not_found(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    runtime_emulator.control.add_fault("POST", r"/jobs$", {"status": 404})
    with pytest.raises(RuntimeProgramNotFound):
        SamplerV2(mode=fez).run([bell])


@pytest.mark.parametrize("action", [{"reset": True}, {"create_then_reset": True}])
def test_post_connection_dropped(
    runtime_emulator: RuntimeEmulator, fez: Any, bell: Any, action: dict[str, Any]
) -> None:
    runtime_emulator.control.clear_log()
    runtime_emulator.control.add_fault("POST", r"/jobs$", action)
    with pytest.raises(IBMRuntimeError) as info:
        SamplerV2(mode=fez).run([bell])
    assert http_status(info.value) == -1
    assert hits(runtime_emulator, "POST", r"/jobs$") == 1
    expected = 1 if "create_then_reset" in action else 0
    assert runtime_emulator.control.job_count() == expected


@pytest.mark.slow
def test_post_500_persistent(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    runtime_emulator.control.add_fault("POST", r"/jobs$", {"create_then_status": 500}, times=100)
    with pytest.raises(IBMRuntimeError) as info:
        SamplerV2(mode=fez).run([bell])
    assert http_status(info.value) == -1
    assert runtime_emulator.control.job_count() == 6


@pytest.mark.slow
def test_usage_500_persistent(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    runtime_emulator.control.add_fault("GET", r"/instances/usage$", {"status": 500}, times=100)
    with pytest.raises(RequestsApiError) as info:
        SamplerV2(mode=fez).run([bell])
    assert info.value.status_code == -1


@pytest.mark.slow
def test_backends_500_at_construction(runtime_emulator: RuntimeEmulator) -> None:
    runtime_emulator.control.add_fault("GET", r"^/backends$", {"status": 500}, times=100)
    service = QiskitRuntimeService()
    with pytest.raises(QiskitBackendNotFoundError):
        service.backend("ibm_fez")


def test_connection_refused(runtime_emulator: RuntimeEmulator, service: Any, done_job: Any) -> None:
    job = service.job(done_job.job_id())
    # Point the job's client at a closed port.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    api = job._api_client._api
    api.session.base_url = api.session.base_url.replace(str(runtime_emulator.port), str(dead))
    assert status_error(job) == -1


# job outcomes ------------------------------------------------------------------------
def test_failed_job(runtime_emulator: RuntimeEmulator, service: Any, done_job: Any) -> None:
    runtime_emulator.control.set_job_state(
        done_job.job_id(), "Failed", reason="Circuit too deep", reason_code=1517
    )
    job = service.job(done_job.job_id())
    assert job.status() == "ERROR"
    with pytest.raises(RuntimeJobFailureError, match="1517"):
        job.result()


def test_ran_too_long(runtime_emulator: RuntimeEmulator, service: Any, fez: Any, bell: Any) -> None:
    runtime_emulator.control.configure(paused=True)
    queued = SamplerV2(mode=fez).run([bell])
    runtime_emulator.control.set_job_state(queued.job_id(), "Running")
    runtime_emulator.control.set_job_state(
        queued.job_id(), "Cancelled", reason="Ran too long", reason_code=1305
    )
    job = service.job(queued.job_id())
    assert job.status() == "ERROR"
    with pytest.raises(RuntimeJobMaxTimeoutError):
        job.result()


def test_user_cancelled(
    runtime_emulator: RuntimeEmulator, service: Any, fez: Any, bell: Any
) -> None:
    runtime_emulator.control.configure(paused=True)
    queued = SamplerV2(mode=fez).run([bell])
    runtime_emulator.control.set_job_state(queued.job_id(), "Cancelled")
    job = service.job(queued.job_id())
    assert job.status() == "CANCELLED"
    with pytest.raises(RuntimeInvalidStateError, match="cancelled"):
        job.result()


def test_results_expired(runtime_emulator: RuntimeEmulator, service: Any, done_job: Any) -> None:
    runtime_emulator.control.expire_job(done_job.job_id())
    with pytest.raises(RequestsApiError) as info:
        service.job(done_job.job_id()).result()
    assert info.value.status_code == 404


def test_private_job_read_once(
    runtime_emulator: RuntimeEmulator, service: Any, fez: Any, bell: Any
) -> None:
    sampler = SamplerV2(mode=fez)
    sampler.options.environment.private = True
    job = sampler.run([bell], shots=10)
    assert job.result(timeout=30)[0].data.meas.num_shots == 10
    # The result is deleted by the first read: later reads get an empty body,
    # which the client returns as None.
    again = service.job(job.job_id())
    assert again.private is True
    assert again.result() is None
    assert job.result() is None
    assert again.inputs == {}
    (summary,) = runtime_emulator.control.jobs()
    assert summary["result_reads"] == 3


def test_own_wait_too_short(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    runtime_emulator.control.configure(paused=True)
    job = SamplerV2(mode=fez).run([bell])
    with pytest.raises(RuntimeJobTimeoutError):
        job.result(timeout=1)
