"""Usage accounting: one table artifact per flow run; task-run names say what and where."""

from __future__ import annotations

import json
from typing import Any

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.context import get_run_context
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_sampler_submit_cache_key,
    run_sampler_task,
    submit_sampler_job_task,
)
from qcsc_prefect.integrations.qiskit.usage import GUARD_ROW_IDS, usage_artifact_key


async def _latest_table(flow_run_id: str) -> list[dict[str, Any]]:
    async with get_client() as client:
        artifacts = await client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[usage_artifact_key(flow_run_id)])
            )
        )
    assert len(artifacts) == 1
    table = json.loads(str(artifacts[0].data))
    assert isinstance(table, list)
    # The cost-guard rows (BUDGET, INSTANCE) are checked in test_budget.py.
    return [row for row in table if row["job_id"] not in GUARD_ROW_IDS]


async def _task_run_names(flow_run_id: str) -> list[str]:
    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return sorted(run.name for run in runs)


async def test_usage_table_rows_origins_and_totals(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    config = QiskitRuntimeConfig(backend_name="ibm_fez", execution_mode="batch")
    pubs = [isa_bell]
    digest = build_qiskit_sampler_input_digest(
        pubs, backend_name="ibm_fez", shots=123, cache_scope="global"
    )
    submit = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )

    @flow(name="usage-accounting")
    async def accounted() -> str:
        reference = await submit(pubs, runtime_config=config, shots=123, input_digest=digest)
        await fetch_qiskit_job_result_task(runtime_config=config, job_reference=reference)
        await run_sampler_task(pubs, runtime_config=config, shots=45)
        return str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    first_run = await accounted()
    table = await _latest_table(first_run)
    rows, batches, total = table[:-2], table[-2:-1], table[-1]
    assert len(rows) == 2
    (batch,) = batches  # the Batch the flow run opened, added when the flow run closed it
    assert batch["job_id"].startswith("BATCH ") and batch["mode"] == "batch"
    assert [row["origin"] for row in rows] == ["new", "new"]
    assert {row["mode"] for row in rows} == {"batch"}
    assert {row["backend"] for row in rows} == {"ibm_fez"}
    assert [row["shots_or_precision"] for row in rows] == ["shots=123", "shots=45"]
    assert {row["status"] for row in rows} == {"DONE"}
    assert all(row["queue_seconds"] is not None and row["queue_seconds"] >= 0 for row in rows)
    qpu = [row["qpu_seconds"] for row in rows]
    assert all(isinstance(value, float) and value > 0 for value in qpu), qpu
    assert total["job_id"] == "TOTAL (2 jobs)"
    assert abs(total["qpu_seconds"] - round(sum(qpu), 3)) < 1e-6
    assert total["origin"] == "2 new, 0 reused, 0 cached"
    names = await _task_run_names(first_run)
    assert names == ["fetch sampler · ibm_fez", "run sampler · ibm_fez", "submit sampler · ibm_fez"]

    second_run = await accounted()
    rows = (await _latest_table(second_run))[:-2]
    assert [row["origin"] for row in rows] == ["cached", "new"]
    assert rows[0]["job_id"] != rows[1]["job_id"]
