"""A 156-qubit Estimator job with resilience options, in an emulator process of its own.

The emulator runs as ``qcsc-runtime-emulator serve`` in a subprocess so that its
peak resident memory (``VmHWM``) is the emulator's alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.quantum_info import SparsePauliOp
from qiskit_ibm_runtime import EstimatorV2, QiskitRuntimeService

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PEAK_RSS_LIMIT_MB = 1500
CLI = [sys.executable, "-m", "qcsc_runtime_emulator.cli", "serve", "--port", "0"]


@pytest.fixture
def emulator_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(CLI, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    described = json.loads(proc.stdout.readline())
    for name, value in described["env"].items():
        monkeypatch.setenv(name, value)
    yield proc
    proc.terminate()
    proc.wait(30)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (Linux ``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("VmHWM not reported")


def layered_circuit(target: Any, num_qubits: int, layers: int) -> QuantumCircuit:
    """Rotations on every qubit and CZs on alternating couplers of the device."""
    edges = sorted({tuple(sorted(e)) for e in target.build_coupling_map().get_edges()})
    qc = QuantumCircuit(num_qubits)
    for layer in range(layers):
        used: set[int] = set()
        for a, b in edges[layer % 2 :: 2]:
            if a not in used and b not in used:
                qc.cz(a, b)
                used |= {a, b}
        for q in range(num_qubits):
            qc.rx(0.1 + 0.01 * layer, q)
    return transpile(qc, target=target, optimization_level=0)


def resilient_estimator(backend: Any) -> EstimatorV2:
    estimator = EstimatorV2(mode=backend)
    options = estimator.options
    options.resilience_level = 2
    options.resilience.zne_mitigation = True
    options.resilience.zne.noise_factors = (1, 3, 5)
    options.resilience.measure_mitigation = True
    options.resilience.layer_noise_learning.max_layers_to_learn = 4
    options.resilience.layer_noise_learning.num_randomizations = 16
    options.twirling.enable_gates = True
    options.twirling.enable_measure = True
    options.twirling.num_randomizations = 8
    options.default_shots = 4096
    return estimator


@pytest.mark.slow
def test_156_qubit_estimator_with_resilience_options(
    emulator_process: subprocess.Popen[str],
) -> None:
    fez = QiskitRuntimeService().backend("ibm_fez")
    everywhere = layered_circuit(fez.target, 156, layers=2)
    # Few active qubits, observables on all of them: the simulation must still span
    # every measured qubit (a full-width statevector would need 2**156 amplitudes).
    few = layered_circuit(fez.target, 156, layers=1)
    few.data = [i for i in few.data if all(few.find_bit(q).index < 12 for q in i.qubits)]
    observables = [
        SparsePauliOp("Z" * 156),
        SparsePauliOp.from_sparse_list([("Z", [q], 1.0) for q in range(156)], 156) / 156,
        SparsePauliOp.from_sparse_list([("ZZ", [0, 1], 1.0)], 156),
    ]
    start = time.monotonic()
    estimator = resilient_estimator(fez)
    jobs = [estimator.run([(circuit, observables)]) for circuit in (everywhere, few)]
    results = [job.result(timeout=600)[0] for job in jobs]
    elapsed = time.monotonic() - start
    peak = peak_rss_mb(emulator_process.pid)
    print(f"156-qubit estimator, 2 jobs: {elapsed:.1f} s, emulator peak RSS {peak:.0f} MiB")
    for pub_result in results:
        evs = pub_result.data.evs
        assert evs.shape == (3,) and np.all(np.abs(evs) <= 1.0 + 1e-9)
        assert evs[1] > 0.5  # small rotations: most qubits stay near |0>
    assert peak < PEAK_RSS_LIMIT_MB
