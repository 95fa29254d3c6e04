"""Fixtures for integration tests against the Runtime emulator (real client over HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

WORKER = Path(__file__).with_name("robust_worker.py")


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


@pytest.fixture(scope="session")
def fez_backend() -> Any:
    """The fake backend behind the emulator's `ibm_fez` (same target), for transpiling."""
    from qiskit_ibm_runtime.fake_provider import FakeFez

    return FakeFez()


@pytest.fixture(scope="session")
def isa_bell(fez_backend: Any) -> QuantumCircuit:
    pm = generate_preset_pass_manager(backend=fez_backend, optimization_level=1, seed_transpiler=7)
    return pm.run(bell())


@pytest.fixture(scope="session")
def isa_estimator_pub(fez_backend: Any) -> tuple[QuantumCircuit, list[SparsePauliOp]]:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    pm = generate_preset_pass_manager(backend=fez_backend, optimization_level=1, seed_transpiler=7)
    isa = pm.run(circuit)
    observables = [SparsePauliOp(label).apply_layout(isa.layout) for label in ("ZZ", "XX")]
    return isa, observables


@pytest.fixture
def live_jobs(runtime_emulator: Any) -> Callable[[], list[dict[str, Any]]]:
    """Jobs on the emulator that were not cancelled (what costs QPU time)."""

    def read() -> list[dict[str, Any]]:
        return [job for job in runtime_emulator.control.jobs() if job["status"] != "Cancelled"]

    return read


def worker_environment(emulator: Any) -> dict[str, str]:
    """Environment for a process that shares this run's Prefect API, storage, locks and emulator.

    The API URL is a setting of the test harness, not an environment variable, so it is read
    from Prefect's settings; the storage and lock paths are already in ``os.environ``.
    """
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ)
    env.update(emulator.env())
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def worker_env(runtime_emulator: Any) -> dict[str, str]:
    """Environment for a subprocess that shares this run's Prefect API, storage and locks."""
    return worker_environment(runtime_emulator)


@pytest.fixture
def start_worker(
    worker_env: dict[str, str],
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `robust_worker.py` in a new process with the shared environment."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            env=worker_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
