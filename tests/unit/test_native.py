"""The native seam: service cache, backend lookup, primitives, status mapping, metadata."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import get_args

import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import EstimatorV2, SamplerOptions, SamplerV2
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qcsc_prefect.integrations.qiskit import _finish
from qcsc_prefect.integrations.qiskit._runtime import native, services
from qcsc_prefect.integrations.qiskit.blocks import QiskitRuntimeConfig
from qcsc_prefect.integrations.qiskit.errors import (
    BackendNotFoundError,
    InvalidInputError,
    RuntimeConfigError,
)
from qcsc_prefect.integrations.qiskit.jobs import ChannelName, JobStatus

PACKAGE_DIR = Path(_finish.__file__).parent
LOCAL = QiskitRuntimeConfig(backend_name="fake_manila", channel="local")


def top_level_imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def test_only_the_seam_modules_import_qiskit_ibm_runtime() -> None:
    seam = PACKAGE_DIR / "_runtime"
    offenders = [
        path.name
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if path.parent != seam
        and path.name != "serializers.py"
        and "qiskit_ibm_runtime" in top_level_imports(path)
    ]
    assert offenders == []


def test_block_channel_values_match_the_job_vocabulary() -> None:
    annotation = QiskitRuntimeConfig.model_fields["channel"].annotation
    (literal, _none) = get_args(annotation)
    assert set(get_args(literal)) == set(get_args(ChannelName))


def test_importing_the_package_does_not_import_qiskit_ibm_runtime() -> None:
    code = (
        "import sys, qcsc_prefect.integrations.qiskit as api;"
        "assert 'qiskit_ibm_runtime' not in sys.modules, 'eager';"
        "api.run_sampler_task;"
        "assert 'qiskit_ibm_runtime' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_same_configuration_gives_the_same_service_and_backend() -> None:
    twin = QiskitRuntimeConfig(backend_name="fake_manila", channel="local")
    assert twin.get_service() is LOCAL.get_service()
    assert twin.get_backend() is LOCAL.get_backend()
    other_backend = QiskitRuntimeConfig(backend_name="fake_lima", channel="local")
    assert other_backend.get_service() is LOCAL.get_service()  # backend name is not a service key
    assert other_backend.get_backend().name == "fake_lima"


def test_service_key_covers_fields_secret_and_redirecting_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = QiskitRuntimeConfig(backend_name="ibm_fez", instance="crn:a", token="secret-1")
    key = services.service_cache_key(base)
    assert key == services.service_cache_key(base.model_copy())
    assert key != services.service_cache_key(base.model_copy(update={"instance": "crn:b"}))
    assert key != services.service_cache_key(
        QiskitRuntimeConfig(backend_name="ibm_fez", instance="crn:a", token="secret-2")
    )
    assert key == services.service_cache_key(base.model_copy(update={"backend_name": "ibm_torino"}))
    assert "secret-1" not in key
    for variable in services.REDIRECTING_ENV_VARS:
        monkeypatch.setenv(variable, "http://127.0.0.1:1")
        changed = services.service_cache_key(base)
        assert changed != key, variable
        key = changed


def test_service_cache_builds_once_under_concurrency() -> None:
    config = QiskitRuntimeConfig(backend_name="fake_manila", channel="local", region="one")
    services: list[object] = []
    barrier = threading.Barrier(8)

    def get() -> None:
        barrier.wait()
        services.append(config.get_service())

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(service) for service in services}) == 1


def test_unknown_backend_lists_close_names_first() -> None:
    config = QiskitRuntimeConfig(backend_name="fake_manla", channel="local")
    with pytest.raises(BackendNotFoundError) as info:
        config.get_backend()
    error = info.value
    assert error.backend_name == "fake_manla"
    assert error.available[0] == "fake_manila"
    assert 1 < len(error.available) <= 8
    assert "fake_manila" in str(error) and "in total" in str(error)
    assert isinstance(error, RuntimeConfigError)


def test_ibm_names_on_the_local_channel_suggest_the_fake() -> None:
    with pytest.raises(BackendNotFoundError, match="fake_fez") as info:
        QiskitRuntimeConfig(backend_name="ibm_fez", channel="local").get_backend()
    assert "local channel" in str(info.value)


def test_build_primitive_passes_native_options_through() -> None:
    backend = FakeManilaV2()
    sampler = native.build_primitive("sampler", backend, {"default_shots": 33})
    assert isinstance(sampler, SamplerV2)
    assert sampler.options.default_shots == 33
    options = SamplerOptions(default_shots=44)
    assert native.build_primitive("sampler", backend, options).options.default_shots == 44
    assert isinstance(native.build_primitive("estimator", backend, None), EstimatorV2)


@pytest.mark.parametrize(
    "options", [{"nonsense": 1}, {"default_shots": "many"}, 5, {"environment": 3}, "x"]
)
def test_build_primitive_rejects_bad_options(options: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        native.build_primitive("sampler", FakeManilaV2(), options)
    assert info.value.argument == "options"


def test_local_job_status_and_metadata() -> None:
    backend = LOCAL.get_backend()
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    job = native.submit(native.build_primitive("sampler", backend), [isa], shots=20)
    result = native.wait_for_result(job)
    status = native.native_job_status(job)
    assert status == "DONE"
    assert status in get_args(JobStatus)
    assert sum(result[0].data.meas.get_counts().values()) == 20
    assert native.is_local_job(job)
    report = native.job_service_report(job)
    assert report == native.ServiceReport()  # local mode: nothing reported by a service


def test_secret_in_an_error_is_redacted_and_not_chained() -> None:
    secret = "tok-DO-NOT-LEAK-123"

    def failing() -> None:
        raise ValueError("wrapped") from ValueError(f"bad token {secret!r}")

    with pytest.raises(RuntimeConfigError) as info:
        services.call_keeping_secret_out(secret, failing)
    error = info.value
    assert secret not in str(error)
    assert "wrapped" in str(error)
    assert error.__cause__ is None and error.__context__ is None

    # Errors without the secret pass through untouched.
    def unrelated() -> None:
        raise KeyError("unrelated")

    with pytest.raises(KeyError):
        services.call_keeping_secret_out(secret, unrelated)
    assert services.call_keeping_secret_out(secret, lambda: 7) == 7


def test_execution_metadata_is_json_compatible() -> None:
    now = _finish.utc_now()
    metadata = _finish.execution_metadata(
        mode="simple",
        primitive="estimator",
        num_pubs=3,
        shots=None,
        precision=0.1,
        status="DONE",
        submitted=now,
        finished=now,
        wall_seconds=0.25,
        report=native.ServiceReport(started="2026-01-01T00:00:00Z", usage={"quantum_seconds": 2.0}),
    )
    assert json.loads(json.dumps(metadata)) == metadata
    assert metadata["precision"] == 0.1 and "shots" not in metadata
    timings = metadata["timings"]
    assert isinstance(timings, dict)
    assert timings["started"] == "2026-01-01T00:00:00Z"
    assert timings["wall_seconds"] == 0.25


class _DecodeRaceJob:
    """A client job whose first result reads trip Python 3.11's AST depth check, as seen when
    threads decode results at once (numpy parses array headers with ``ast.literal_eval``)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.reads = 0

    def job_id(self) -> str:
        return "job-decode-race"

    def result(self) -> str:
        self.reads += 1
        if self.reads <= self.failures:
            raise SystemError("AST constructor recursion depth mismatch (before=102, after=99)")
        return "the result"


def test_a_decoding_race_is_read_again_not_reported_as_a_failed_job() -> None:
    job = _DecodeRaceJob(failures=native.DECODE_ATTEMPTS - 1)
    assert native.wait_for_result(job) == "the result"
    assert job.reads == native.DECODE_ATTEMPTS


def test_a_persistent_decoding_error_is_raised_as_itself() -> None:
    job = _DecodeRaceJob(failures=native.DECODE_ATTEMPTS)
    with pytest.raises(SystemError):
        native.wait_for_result(job)
    assert job.reads == native.DECODE_ATTEMPTS
