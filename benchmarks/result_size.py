"""Persisted size and load time of a fetch output under Prefect result serializers.

Workload: the fetch task's output dictionary holding a Sampler ``PrimitiveResult`` of 100 pubs
x 4096 shots x 20 qubits (``BitArray`` per pub, per-pub metadata, 100 execution spans), in two
variants: uniformly random outcomes (worst case for compression) and GHZ-like outcomes with 2 %
bit flips; plus an Estimator result (100 pubs x 28 observables, evs/stds).

"bytes" is what the serializer returns, i.e. the ``result`` string inside Prefect's record
file (the record adds ~0.6 kB of JSON metadata). Prefect reads a cached record twice on a cache
hit (``ResultStore.exists()`` then ``read()``), so a hit costs about 2x the load time.

Run: ``.venv/bin/python benchmarks/result_size.py`` (not part of ``make test``).
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from prefect.serializers import CompressedPickleSerializer, PickleSerializer, Serializer
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import BitArray, DataBin, PubResult, SamplerPubResult
from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans

from qcsc_prefect.integrations.qiskit.serializers import QiskitRuntimeJSONSerializer

if TYPE_CHECKING:
    from collections.abc import Callable

PUBS, SHOTS, QUBITS = 100, 4096, 20
TARGET_BYTES, TARGET_LOAD_MS = 1_500_000, 50.0


def sampler_output(kind: str, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pub_results = []
    spans = []
    for index in range(PUBS):
        if kind == "random":
            bits = rng.integers(0, 2, size=(SHOTS, QUBITS), dtype=np.uint8)
        else:
            ones = rng.integers(0, 2, size=(SHOTS, 1), dtype=np.uint8)
            flips = (rng.random((SHOTS, QUBITS)) < 0.02).astype(np.uint8)
            bits = np.repeat(ones, QUBITS, axis=1) ^ flips
        meas = BitArray.from_bool_array(bits.astype(bool))
        pub_results.append(
            SamplerPubResult(
                DataBin(meas=meas, shape=()), metadata={"circuit_metadata": {"index": index}}
            )
        )
        spans.append(
            DoubleSliceSpan(
                start + timedelta(seconds=index),
                start + timedelta(seconds=index + 1),
                {index: ((SHOTS,), slice(0, 1), slice(0, SHOTS))},
            )
        )
    result = PrimitiveResult(
        pub_results,
        metadata={"execution": {"execution_spans": ExecutionSpans(spans)}, "version": 2},
    )
    return {
        "job_id": "dc2noi38di15fclre9ng",
        "backend_name": "ibm_fez",
        "primitive": "sampler",
        "status": "DONE",
        "result": result,
        "metadata": {"shots": SHOTS, "num_pubs": PUBS, "finished_at": start.isoformat()},
    }


def estimator_output(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    pub_results = [
        PubResult(
            DataBin(evs=rng.normal(size=28), stds=rng.random(28) / 10, shape=(28,)),
            metadata={"target_precision": 0.01, "shots": 10_000},
        )
        for _ in range(PUBS)
    ]
    return {
        "job_id": "dc2noi38di15fclre9nh",
        "backend_name": "ibm_fez",
        "primitive": "estimator",
        "status": "DONE",
        "result": PrimitiveResult(pub_results, metadata={"version": 2}),
        "metadata": {"precision": 0.01, "num_pubs": PUBS},
    }


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[Any, float]:
    times = []
    value = None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return value, statistics.median(times) * 1000


def main() -> None:
    serializers: list[tuple[str, Serializer[Any]]] = [
        ("qiskit-runtime-json", QiskitRuntimeJSONSerializer()),
        ("compressed/pickle (reference)", CompressedPickleSerializer()),
        ("pickle", PickleSerializer()),
    ]
    workloads = [
        ("sampler, random bits", sampler_output("random")),
        ("sampler, GHZ-like 2% flips", sampler_output("ghz")),
        ("estimator, 28 obs", estimator_output()),
    ]
    header = (
        f"{'workload':28} {'serializer':30} {'bytes':>10} {'dump ms':>8} {'load ms':>8} "
        f"{'bytes/ref':>9} {'load/ref':>8}"
    )
    print(header)
    print("-" * len(header))
    for workload, output in workloads:
        rows = []
        for name, serializer in serializers:
            blob, dump_ms = timed(lambda s=serializer, o=output: s.dumps(o), repeat=3)
            loaded, load_ms = timed(lambda s=serializer, b=blob: s.loads(b))
            assert loaded["job_id"] == output["job_id"]
            rows.append((name, len(blob), dump_ms, load_ms))
        _, ref_bytes, _, ref_load = rows[1]
        for name, size, dump_ms, load_ms in rows:
            print(
                f"{workload:28} {name:30} {size:>10,} {dump_ms:>8.1f} {load_ms:>8.1f} "
                f"{size / ref_bytes:>9.2f} {load_ms / ref_load:>8.2f}"
            )
    print(
        f"\ntargets for qiskit-runtime-json: <= {TARGET_BYTES:,} bytes, <= {TARGET_LOAD_MS} ms load"
    )


if __name__ == "__main__":
    main()
