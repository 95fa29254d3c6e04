"""The executor primitives (program ``executor``) behind the same tasks and wrappers.

``QiskitRuntimeConfig(primitive_api="executor")`` switches every mode to qiskit-ibm-runtime's
client-side ``executor_sampler.Sampler`` / ``executor_estimator.Estimator``; results stay the
client's own ``PrimitiveResult``.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from prefect import flow
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qcsc_prefect.integrations.qiskit import (
    InvalidInputError,
    QCSCEstimatorV2,
    QCSCSamplerV2,
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_sampler_submit_cache_key,
    run_estimator_task,
    run_sampler_task,
    submit_sampler_job_task,
)

EXECUTOR = QiskitRuntimeConfig(backend_name="ibm_fez", primitive_api="executor")


def _programs(runtime_emulator: Any) -> list[str]:
    service = runtime_emulator.service()
    return [str(service.job(job["id"]).primitive_id) for job in runtime_emulator.control.jobs()]


async def test_simple_mode_runs_the_executor_sampler_and_estimator(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    isa_estimator_pub: tuple[QuantumCircuit, list[SparsePauliOp]],
) -> None:
    @flow(name="executor-simple")
    async def both() -> tuple[Any, Any]:
        sampled = await run_sampler_task([isa_bell], runtime_config=EXECUTOR, shots=64)
        estimated = await run_estimator_task(
            [isa_estimator_pub], runtime_config=EXECUTOR, precision=0.05
        )
        return sampled, estimated

    sampled, estimated = await both()
    counts = sampled["result"][0].data.meas.get_counts()
    assert sum(counts.values()) == 64 and set(counts) <= {"00", "11"}
    assert np.all(np.isfinite(np.asarray(estimated["result"][0].data.evs)))
    assert _programs(runtime_emulator) == ["executor", "executor"]


async def test_robust_mode_submits_once_and_adopts_on_rerun(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    pubs = [isa_bell]
    digest = build_qiskit_sampler_input_digest(
        pubs, backend_name="ibm_fez", shots=88, cache_scope="global"
    )
    submit = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )

    @flow(name="executor-robust")
    async def robust(bypass_cache: bool) -> Any:
        # A cache key no run has used makes the task body run again: only the job-tag lookup
        # can then keep the job unique.
        task = (
            submit.with_options(cache_key_fn=lambda _c, _p: f"fresh-{uuid.uuid4().hex}")
            if bypass_cache
            else submit
        )
        reference = await task(pubs, runtime_config=EXECUTOR, shots=88, input_digest=digest)
        output = await fetch_qiskit_job_result_task(
            runtime_config=EXECUTOR, job_reference=reference, pubs=pubs
        )
        return reference, output

    first, output = await robust(False)
    assert sum(output["result"][0].data.meas.get_counts().values()) == 88
    cached, _ = await robust(False)
    adopted, _ = await robust(True)
    assert cached.job_id == first.job_id
    assert adopted.job_id == first.job_id and adopted.reused
    assert runtime_emulator.control.job_count() == 1
    service = runtime_emulator.service()
    assert first.idempotency_tag in (service.job(first.job_id).tags or [])


async def test_wrappers_run_executor_primitives(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    isa_estimator_pub: tuple[QuantumCircuit, list[SparsePauliOp]],
) -> None:
    @flow(name="executor-wrappers")
    async def wrapped() -> tuple[Any, Any]:
        sampler = QCSCSamplerV2(runtime_config=EXECUTOR)
        estimator = QCSCEstimatorV2(runtime_config=EXECUTOR)
        sampled = await sampler.arun([isa_bell], shots=32, robust=True)
        estimated = await estimator.arun([isa_estimator_pub], precision=0.05)
        return await sampled.aresult(), await estimated.aresult()

    sampled, estimated = await wrapped()
    assert sum(sampled[0].data.meas.get_counts().values()) == 32
    assert np.all(np.isfinite(np.asarray(estimated[0].data.evs)))
    assert set(_programs(runtime_emulator)) == {"executor"}


async def test_bad_executor_options_submit_nothing(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow(name="executor-bad-options")
    async def bad() -> None:
        await submit_sampler_job_task(
            [isa_bell], runtime_config=EXECUTOR, shots=10, options={"default_shots": "many"}
        )

    with pytest.raises(InvalidInputError) as raised:
        await bad()
    assert raised.value.argument == "options"
    assert runtime_emulator.control.job_count() == 0


def _program(circuit: QuantumCircuit, shots: int) -> Any:
    from qiskit_ibm_runtime.quantum_program import QuantumProgram

    program = QuantumProgram(shots=shots)
    program.append_circuit_item(circuit)
    return program


def _shots_of(result: Any) -> int:
    (item,) = list(result)
    return int(np.asarray(item["meas"]).shape[-2])


async def test_raw_quantum_program_through_every_mode(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    submit = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )

    @flow(name="executor-program")
    async def every_mode() -> tuple[Any, Any, Any, Any]:
        simple = await run_sampler_task(_program(isa_bell, 21), runtime_config=EXECUTOR)
        program = _program(isa_bell, 22)
        digest = build_qiskit_sampler_input_digest(
            program, backend_name="ibm_fez", cache_scope="global"
        )
        reference = await submit(program, runtime_config=EXECUTOR, input_digest=digest)
        robust = await fetch_qiskit_job_result_task(
            runtime_config=EXECUTOR, job_reference=reference
        )
        adopted = await submit.with_options(
            cache_key_fn=lambda _c, _p: f"fresh-{uuid.uuid4().hex}"
        )(_program(isa_bell, 22), runtime_config=EXECUTOR, input_digest=digest)
        wrapped = await QCSCSamplerV2(runtime_config=EXECUTOR).run(_program(isa_bell, 23))
        return simple, robust, (reference, adopted), await wrapped.aresult()

    simple, robust, (reference, adopted), wrapped = await every_mode()
    assert [_shots_of(simple["result"]), _shots_of(robust["result"]), _shots_of(wrapped)] == [
        21,
        22,
        23,
    ]
    assert adopted.job_id == reference.job_id and adopted.reused
    assert runtime_emulator.control.job_count() == 3
    assert set(_programs(runtime_emulator)) == {"executor"}


async def test_bad_quantum_programs_submit_nothing(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    v2 = QiskitRuntimeConfig(backend_name="ibm_fez")
    bell = QuantumCircuit(2)  # not transpiled: H is not a native gate of ibm_fez
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()

    @flow(name="executor-bad-program")
    async def bad(config: QiskitRuntimeConfig, program: Any, shots: int | None) -> None:
        await run_sampler_task(program, runtime_config=config, shots=shots)

    for config, program, shots, words in [
        (EXECUTOR, _program(bell, 10), None, "not an ISA circuit"),
        (v2, _program(isa_bell, 10), None, "primitive_api='executor'"),
        (EXECUTOR, _program(isa_bell, 10), 99, "carries its own shots"),
    ]:
        with pytest.raises(InvalidInputError, match=words):
            await bad(config, program, shots)
    assert runtime_emulator.control.job_count() == 0
