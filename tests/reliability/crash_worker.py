"""A robust flow run in its own process that can kill itself (SIGKILL) at a chosen instant.

Usage::

    python crash_worker.py [--scope global|flow] [--shots N] [--variant K] [--fetch]
                           [--cache-result] [--block NAME] [--crash-at POINT]
                           [--api v2|executor]

``--crash-at`` wraps one of the library's native calls so that the process dies with
``SIGKILL`` exactly in a crash window, no cleanup, no ``finally``:

* ``after-post``: ``POST /jobs`` returned; Prefect has not stored the submit result.
* ``in-lock``: the submit lock is held, nothing is posted yet.
* ``hang-in-lock``: the submit lock is held and the process hangs (the test kills it).
* ``polling``: the fetch saw the job queued or running.
* ``after-result``: the fetch downloaded the result; Prefect has not persisted it.

Prints one JSON line per milestone (``{"event": ...}``); never prints secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

from prefect import flow
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime.fake_provider import FakeFez

from qcsc_prefect.integrations.qiskit._runtime import native
from qcsc_prefect.integrations.qiskit.blocks import QiskitRuntimeConfig
from qcsc_prefect.integrations.qiskit.cache import (
    qiskit_result_fetch_cache_key,
    qiskit_sampler_submit_cache_key,
)
from qcsc_prefect.integrations.qiskit.digests import build_qiskit_sampler_input_digest
from qcsc_prefect.integrations.qiskit.fetch import fetch_qiskit_job_result_task
from qcsc_prefect.integrations.qiskit.submit import submit_sampler_job_task


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install_crash(point: str) -> None:
    if point == "none":
        return
    submit, status, result = native.submit, native.native_job_status, native.wait_for_result

    def submit_then_die(*args: Any, **kwargs: Any) -> Any:
        job = submit(*args, **kwargs)
        say(event="posted", job_id=str(job.job_id()))
        die()
        return job  # pragma: no cover

    def die_in_lock(*args: Any, **kwargs: Any) -> Any:
        say(event="locked")
        die()

    def hang_in_lock(*args: Any, **kwargs: Any) -> Any:
        say(event="locked")
        while True:  # the test kills this process with SIGKILL
            signal.pause()

    def status_then_die(job: Any) -> Any:
        value = status(job)
        if value in ("QUEUED", "RUNNING", "INITIALIZING"):
            say(event="polling", job_id=str(job.job_id()), status=value)
            die()
        return value

    def result_then_die(job: Any, *args: Any, **kwargs: Any) -> Any:
        value = result(job, *args, **kwargs)
        say(event="downloaded", job_id=str(job.job_id()))
        die()
        return value  # pragma: no cover

    patches = {
        "after-post": ("submit", submit_then_die),
        "in-lock": ("submit", die_in_lock),
        "hang-in-lock": ("submit", hang_in_lock),
        "polling": ("native_job_status", status_then_die),
        "after-result": ("wait_for_result", result_then_die),
    }
    name, replacement = patches[point]
    setattr(native, name, replacement)


def isa_circuit(variant: int) -> QuantumCircuit:
    """A Bell pair, with ``variant`` extra idle X-X pairs to make distinct inputs."""
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    for _ in range(variant):
        circuit.x(0)
        circuit.x(0)
    circuit.measure_all()
    pm = generate_preset_pass_manager(backend=FakeFez(), optimization_level=0, seed_transpiler=7)
    return pm.run(circuit)


@flow(name="reliability-crash-worker")
async def crash_worker_flow(
    scope: str,
    shots: int,
    variant: int,
    fetch: bool,
    cache_result: bool,
    block: str | None,
    api: str = "v2",
) -> None:
    pubs = [isa_circuit(variant)]
    where: dict[str, Any] = (
        {"runtime_block_name": block}
        if block
        else {"runtime_config": QiskitRuntimeConfig(backend_name="ibm_fez", primitive_api=api)}
    )
    digest = build_qiskit_sampler_input_digest(
        pubs, backend_name="ibm_fez", shots=shots, cache_scope=scope
    )
    reference = await submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )(pubs, shots=shots, input_digest=digest, **where)
    say(event="submitted", job_id=reference.job_id, reused=reference.reused)
    if not fetch:
        return
    fetch_task = fetch_qiskit_job_result_task
    if cache_result:
        fetch_task = fetch_task.with_options(
            cache_key_fn=qiskit_result_fetch_cache_key,
            persist_result=True,
            result_serializer="compressed/pickle",
        )
    state = await fetch_task(job_reference=reference, pubs=pubs, return_state=True, **where)
    output = await state.result()
    counts = output["result"][0].data.meas.get_counts()
    say(event="fetched", job_id=output["job_id"], counts=counts, state=state.name)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scope", choices=["flow", "global"], default="global")
    parser.add_argument("--shots", type=int, default=64)
    parser.add_argument("--variant", type=int, default=0)
    parser.add_argument("--fetch", action="store_true")
    parser.add_argument("--cache-result", action="store_true")
    parser.add_argument("--block", default=None)
    parser.add_argument("--api", choices=["v2", "executor"], default="v2")
    parser.add_argument(
        "--crash-at",
        choices=["none", "after-post", "in-lock", "hang-in-lock", "polling", "after-result"],
        default="none",
    )
    args = parser.parse_args()
    install_crash(args.crash_at)
    asyncio.run(
        crash_worker_flow(
            args.scope,
            args.shots,
            args.variant,
            args.fetch,
            args.cache_result,
            args.block,
            args.api,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
