"""Input-digest cost: time and tracemalloc peak, against a qasm3-concatenation reference.

Workload: 100 Sampler pubs, each a distinct 20-qubit ISA circuit (EfficientSU2, 3 reps,
pairwise entanglement, transpiled to rz/sx/cz: depth ~47, ~790 instructions, 160 parameters)
with a (100, 160) float64 parameter-value array. A second row reuses one circuit object for
all pubs (the common "one ansatz, many parameter sets" case).

The reference is an "incumbent-like" digest: ``qasm3.dumps`` of each circuit plus the
parameter values as text, concatenated into one string and hashed.

Run: ``.venv/bin/python benchmarks/digest.py`` (not part of ``make test``).
Targets for ``build_qiskit_sampler_input_digest``: <= 0.2 s and <= 10 MB peak.
"""

from __future__ import annotations

import hashlib
import statistics
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit import qasm3, transpile
from qiskit.circuit.library import efficient_su2

from qcsc_prefect.integrations.qiskit.digests import build_qiskit_sampler_input_digest

if TYPE_CHECKING:
    from collections.abc import Callable

PUBS, QUBITS, SETS = 100, 20, 100
TARGET_S, TARGET_MB = 0.2, 10.0


def workload(distinct: bool) -> list[tuple[Any, np.ndarray[Any, Any]]]:
    ansatz = efficient_su2(QUBITS, reps=3, entanglement="pairwise")
    ansatz.measure_all()
    rng = np.random.default_rng(0)
    count = PUBS if distinct else 1
    circuits = [
        transpile(
            ansatz, basis_gates=["rz", "sx", "cz", "x"], optimization_level=1, seed_transpiler=i
        )
        for i in range(count)
    ]
    return [(circuits[i % count], rng.random((SETS, ansatz.num_parameters))) for i in range(PUBS)]


def reference_digest(pubs: list[tuple[Any, np.ndarray[Any, Any]]]) -> str:
    text = ""
    for circuit, values in pubs:
        text += qasm3.dumps(circuit) + "\n" + repr(values.tolist()) + "\n"
    return hashlib.sha256(text.encode()).hexdigest()


def ours(pubs: list[tuple[Any, np.ndarray[Any, Any]]]) -> str:
    return build_qiskit_sampler_input_digest(
        pubs, backend_name="ibm_fez", shots=100, cache_scope="global"
    )


def measure(fn: Callable[[], str], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / 1e6


def main() -> None:
    print(
        f"{'workload':26} {'digest':22} {'time s':>8} {'peak MB':>8} {'time/ref':>9} "
        f"{'peak/ref':>9}"
    )
    print("-" * 86)
    for label, distinct in (("100 distinct circuits", True), ("1 circuit shared", False)):
        pubs = workload(distinct)
        ref_time, ref_peak = measure(lambda p=pubs: reference_digest(p), repeat=3)
        our_time, our_peak = measure(lambda p=pubs: ours(p), repeat=5)
        for name, t, peak in (
            ("qasm3 concat (ref)", ref_time, ref_peak),
            ("build_qiskit_sampler", our_time, our_peak),
        ):
            print(
                f"{label:26} {name:22} {t:>8.3f} {peak:>8.1f} {t / ref_time:>9.2f} "
                f"{peak / ref_peak:>9.2f}"
            )
    print(f"\ntargets for build_qiskit_sampler_input_digest: <= {TARGET_S} s, <= {TARGET_MB} MB")


if __name__ == "__main__":
    main()
