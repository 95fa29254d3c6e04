"""Workload 3: input digest of 100 pubs, time and peak traced memory, in one fresh process.

``make`` (run once, in the project's venv) builds the pubs of ``benchmarks/digest.py`` — 100
distinct 20-qubit ISA circuits (EfficientSU2, depth ~47, 160 parameters) each with a (100, 160)
parameter-value array — and stores them as QPY + npz, so that both implementations digest
byte-identical inputs without transpiling again. ``measure`` loads them and times
``build_qiskit_sampler_input_digest(pubs, backend_name=..., shots=..., cache_scope="global")``
(the same call in both implementations), then runs it once more under ``tracemalloc``.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

from _common import BACKEND_NAME, emit, implementation, library


def make(out: Path, pubs: int) -> None:
    import numpy as np
    from qiskit import qpy

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import digest as reference  # benchmarks/digest.py: the workload's definition

    reference.PUBS = pubs
    built = reference.workload(distinct=True)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "circuits.qpy", "wb") as handle:
        qpy.dump([circuit for circuit, _ in built], handle)
    np.savez(out / "values.npz", *[values for _, values in built])
    emit(kind="digest-inputs", pubs=len(built), qubits=built[0][0].num_qubits)


def measure(inputs: Path, reps: int) -> None:
    import numpy as np
    from qiskit import qpy

    with open(inputs / "circuits.qpy", "rb") as handle:
        circuits = qpy.load(handle)
    with np.load(inputs / "values.npz") as arrays:
        values = [arrays[f"arr_{index}"] for index in range(len(circuits))]
    pubs = list(zip(circuits, values, strict=True))
    build = library().build_qiskit_sampler_input_digest

    def once() -> str:
        return str(build(pubs, backend_name=BACKEND_NAME, shots=100, cache_scope="global"))

    times = []
    digest = ""
    for _ in range(reps):
        started = time.perf_counter()
        digest = once()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    emit(
        kind="digest",
        impl=implementation(),
        seconds=times,
        peak_bytes=peak,
        pubs=len(pubs),
        depth=circuits[0].depth(),
        parameters=circuits[0].num_parameters,
        values_shape=list(values[0].shape),
        digest=digest[:24],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make_parser = sub.add_parser("make")
    make_parser.add_argument("--out", type=Path, required=True)
    make_parser.add_argument("--pubs", type=int, default=100)
    measure_parser = sub.add_parser("measure")
    measure_parser.add_argument("--inputs", type=Path, required=True)
    measure_parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if args.command == "make":
        make(args.out, args.pubs)
    else:
        measure(args.inputs, args.reps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
