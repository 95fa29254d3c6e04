"""Repeating identical inputs on purpose: one job per ``repeat`` value, reused on rerun."""

from __future__ import annotations

from typing import Any

from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    QCSCSamplerV2,
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    qiskit_sampler_submit_cache_key,
    run_sampler_task,
    submit_sampler_job_task,
)

FEZ = "ibm_fez"


def _config() -> QiskitRuntimeConfig:
    return QiskitRuntimeConfig(backend_name=FEZ)


async def test_under_a_digest_each_repeat_is_one_job_and_a_rerun_reuses_them(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    cached = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )

    @flow
    async def sweep() -> list[str]:
        pubs = [isa_bell]
        digest = build_qiskit_sampler_input_digest(
            pubs, backend_name=FEZ, shots=24, cache_scope="global"
        )
        job_ids = []
        for repeat in (None, 1, 2, 2, "1"):
            reference = await cached(
                pubs, runtime_config=_config(), shots=24, input_digest=digest, repeat=repeat
            )
            job_ids.append(reference.job_id)
        return job_ids

    first = await sweep()
    assert len(set(first)) == 3  # None, 1 (and "1"), 2
    assert first[2] == first[3] and first[1] == first[4]
    assert runtime_emulator.control.job_count() == 3
    assert await sweep() == first
    assert runtime_emulator.control.job_count() == 3


async def test_the_wrapper_repeats_with_cache_submit(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    sampler = QCSCSamplerV2(runtime_config=_config())

    @flow
    async def more_shots() -> list[str]:
        jobs = [
            await sampler.arun([isa_bell], shots=24, cache_submit=True, repeat=repeat)
            for repeat in ("a", "b")
        ]
        return [job.job_id() for job in jobs]

    first = await more_shots()
    assert len(set(first)) == 2
    assert await more_shots() == first
    assert runtime_emulator.control.job_count() == 2


async def test_simple_mode_accepts_repeat_and_submits_every_call(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    async def simple() -> list[str]:
        outputs = [
            await run_sampler_task([isa_bell], runtime_config=_config(), shots=8, repeat=1)
            for _ in range(2)
        ]
        return [output["job_id"] for output in outputs]

    assert len(set(await simple())) == 2
    assert runtime_emulator.control.job_count() == 2
