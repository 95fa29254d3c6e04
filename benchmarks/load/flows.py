"""The flow the load test deploys: submit a batch of global-scope inputs, then fetch them all.

Runs in a worker's flow-run process on some simulated host. Everything it shares with other
hosts comes from the environment the worker got from ``.stack/env``: the Prefect API, the
PostgreSQL submit lock, the shared result-storage Block and the emulator. Its return value is
persisted to that shared storage, which is how the load driver reads the per-job timings.

With ``QCSC_LOAD_PROFILE`` set (``make load`` sets it for the flow runs it profiles), the flow
marks where its function starts and returns for ``cpu_profile.py``.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, TypeVar

from prefect import flow
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_retry_delays,
    qiskit_sampler_submit_cache_key,
    should_retry_qiskit_fetch_failure,
    submit_sampler_job_task,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable

BACKEND = "ibm_fez"
T = TypeVar("T")
SHOTS = 128


class BatchReport(TypedDict):
    """What one flow run reports back (persisted in the shared result storage)."""

    jobs: dict[str, str]
    submit_seconds: list[float]
    fetch_seconds: list[float]
    fetched: int


def load_circuits(salt: float, indices: list[int]) -> list[QuantumCircuit]:
    """The logical circuit of input ``i``: a Bell pair with an ``rz`` angle unique to ``i``.

    ``salt`` makes every load-test run's inputs new, so caches from earlier runs never apply.
    """
    circuits = []
    for index in indices:
        circuit = QuantumCircuit(2)
        circuit.h(0)
        circuit.rz(salt + 0.001 * index, 0)
        circuit.cx(0, 1)
        circuit.measure_all()
        circuits.append(circuit)
    return circuits


def _profile_mark(phase: str) -> None:
    """Tell the CPU profile the flow reached ``phase`` (no-op unless profiling)."""
    if not os.environ.get("QCSC_LOAD_PROFILE"):
        return
    profiler = sys.modules.get("cpu_profile")
    if profiler is None:  # Prefect's own command (the supervisor): sample from here on
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import cpu_profile as profiler

        profiler.start()
        atexit.register(profiler.finish)
    profiler.mark(phase)


async def _timed(awaitable: Awaitable[T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = await awaitable
    return time.perf_counter() - start, value


@flow(name="qcsc-load-batch", persist_result=True)
async def load_batch(salt: float, indices: list[int]) -> BatchReport:
    """Submit the inputs ``indices`` concurrently (robust, global scope), then fetch them."""
    _profile_mark("flow")
    try:
        return await _submit_and_fetch(salt, indices)
    finally:
        _profile_mark("teardown")


async def _submit_and_fetch(salt: float, indices: list[int]) -> BatchReport:
    config = QiskitRuntimeConfig(backend_name=BACKEND)
    backend = await asyncio.to_thread(config.get_backend)
    manager = generate_preset_pass_manager(backend=backend, optimization_level=1)
    isa = manager.run(load_circuits(salt, indices))
    pubs_list = [[circuit] for circuit in isa]
    digests = [
        build_qiskit_sampler_input_digest(
            pubs, backend_name=BACKEND, shots=SHOTS, cache_scope="global"
        )
        for pubs in pubs_list
    ]
    submit = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )
    submitted = await asyncio.gather(
        *(
            _timed(submit(pubs, runtime_config=config, shots=SHOTS, input_digest=digest))
            for pubs, digest in zip(pubs_list, digests, strict=True)
        )
    )
    fetch = fetch_qiskit_job_result_task.with_options(
        retries=len(qiskit_retry_delays()),
        retry_delay_seconds=qiskit_retry_delays(),
        retry_condition_fn=should_retry_qiskit_fetch_failure,
    )
    fetched = await asyncio.gather(
        *(
            _timed(fetch(runtime_config=config, job_reference=ref, pubs=pubs))
            for (_, ref), pubs in zip(submitted, pubs_list, strict=True)
        )
    )
    done = sum(
        1
        for _, output in fetched
        if output["status"] == "DONE"
        and sum(output["result"][0].data.meas.get_counts().values()) == SHOTS
    )
    return {
        "jobs": {digest: ref.job_id for digest, (_, ref) in zip(digests, submitted, strict=True)},
        "submit_seconds": [round(seconds, 4) for seconds, _ in submitted],
        "fetch_seconds": [round(seconds, 4) for seconds, _ in fetched],
        "fetched": done,
    }
