"""Shared fixtures: the emulator fixtures come from the package's pytest plugin."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.quantum_info import SparsePauliOp
from qiskit_ibm_runtime import QiskitRuntimeService
from qiskit_ibm_runtime.fake_provider import FakeFez

from qcsc_runtime_emulator import RuntimeEmulator


@pytest.fixture(scope="session")
def fez_target() -> Any:
    return FakeFez().target


@pytest.fixture(scope="session")
def bell(fez_target: Any) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return transpile(qc, target=fez_target, optimization_level=1, seed_transpiler=7)


@pytest.fixture(scope="session")
def bell_estimator_pub(fez_target: Any) -> tuple[QuantumCircuit, list[SparsePauliOp]]:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    isa = transpile(qc, target=fez_target, optimization_level=1, seed_transpiler=7)
    obs = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZ", "XX", "ZI")]
    return isa, obs


@pytest.fixture
def service(runtime_emulator: RuntimeEmulator) -> QiskitRuntimeService:
    # A bare constructor: account discovery through the environment only.
    return QiskitRuntimeService()


@pytest.fixture
def fez(service: QiskitRuntimeService) -> Any:
    return service.backend("ibm_fez")


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def until() -> Callable[..., Any]:
    return wait_for


class Restartable:
    """An emulator on a state directory that can be stopped and started again.

    It applies the emulator's environment to the test (with ``monkeypatch``);
    :meth:`restart` stops it and starts a new one on the same port and directory.
    """

    def __init__(self, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.state_dir = state_dir
        self.emulator = RuntimeEmulator(state_dir=state_dir).start()
        self.port = self.emulator.port
        for name, value in self.emulator.env().items():
            monkeypatch.setenv(name, value)

    def finished_and_inflight(
        self, primitive: Any, bell: Any, shots: tuple[int, int]
    ) -> tuple[Any, Any, Any]:
        """Run a Bell job to the end, pause the emulator and submit another on ``ibm_fez``.

        Args:
            primitive: The sampler class to submit with (``SamplerV2`` or executor ``Sampler``).
            bell: The ISA Bell circuit.
            shots: The shots of the finished job and of the in-flight one.

        Returns:
            ``(service, finished job, in-flight job)``.
        """
        service = QiskitRuntimeService()
        fez = service.backend("ibm_fez")
        finished = primitive(mode=fez).run([bell], shots=shots[0])
        finished.result(timeout=60)
        self.emulator.control.configure(paused=True)
        return service, finished, primitive(mode=fez).run([bell], shots=shots[1])

    def stop(self) -> None:
        self.emulator.stop()

    def restart(self) -> RuntimeEmulator:
        self.emulator.stop()
        self.emulator = RuntimeEmulator(port=self.port, state_dir=self.state_dir).start()
        return self.emulator


@pytest.fixture
def restartable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Restartable]:
    server = Restartable(tmp_path / "state", monkeypatch)
    yield server
    server.emulator.stop()
