"""The submit cache lives in whatever storage the task uses, and is invalidated through it.

A failed job's submit-cache entry must stop answering ``Cached`` — for a saved storage Block (as
shared by many hosts) and for a cache policy with a separate ``key_storage`` — through Prefect's
result-store API, so that the next run submits a new job.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.cache_policies import CacheKeyFnPolicy
from prefect.filesystems import LocalFileSystem
from prefect.results import ResultStore
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    JobFailedError,
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_sampler_submit_cache_key,
    submit_sampler_job_task,
)

FEZ = "ibm_fez"


async def _saved_block_storage(tmp_path: Path) -> tuple[dict[str, Any], ResultStore]:
    block = LocalFileSystem(basepath=str(tmp_path / "shared-results"))
    await block.save(f"submit-cache-{uuid.uuid4().hex[:8]}")
    loaded = await LocalFileSystem.load(block._block_document_name)  # type: ignore[misc]
    return {"result_storage": loaded}, ResultStore(result_storage=loaded)


def _key_storage_task(tmp_path: Path) -> tuple[Any, ResultStore]:
    """The submit body as a task whose cache policy keeps keys apart from values."""
    keys = tmp_path / "keys"
    policy = CacheKeyFnPolicy(cache_key_fn=qiskit_sampler_submit_cache_key).configure(
        key_storage=keys
    )
    submit = task(name="submit_sampler_job_task", cache_policy=policy, persist_result=True)(
        submit_sampler_job_task.fn
    )
    return submit, ResultStore(metadata_storage=LocalFileSystem(basepath=str(keys)))


@pytest.mark.parametrize("layout", ["saved-block", "key-storage"])
async def test_failed_job_entry_is_invalidated_in_its_own_storage(
    runtime_emulator: Any, isa_bell: QuantumCircuit, tmp_path: Path, layout: str
) -> None:
    if layout == "saved-block":
        storage_options, store = await _saved_block_storage(tmp_path)
        submit = submit_sampler_job_task.with_options(
            cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True, **storage_options
        )
    else:
        submit, store = _key_storage_task(tmp_path)
    config = QiskitRuntimeConfig(backend_name=FEZ)
    pubs = [isa_bell]
    shots = 91 if layout == "saved-block" else 92

    @flow(name=f"submit-cache-store-{layout}")
    async def run(fetch: bool) -> Any:
        digest = build_qiskit_sampler_input_digest(
            pubs, backend_name=FEZ, shots=shots, cache_scope="global"
        )
        reference = await submit(pubs, runtime_config=config, shots=shots, input_digest=digest)
        if not fetch:
            return reference
        state = await fetch_qiskit_job_result_task(
            runtime_config=config, job_reference=reference, return_state=True
        )
        return reference, state

    control = runtime_emulator.control
    control.configure(paused=True)
    first = await run(False)
    assert first.cache_key and first.cache_location is not None
    assert await store.aexists(first.cache_key)
    control.set_job_state(first.job_id, "Failed", "instruction not supported", 1517)
    control.configure(paused=False)

    cached, state = await run(True)
    assert cached.job_id == first.job_id  # the cached reference, then the job's failure
    with pytest.raises(JobFailedError):
        await state.result()
    assert not await store.aexists(first.cache_key), "the entry still answers Cached"

    fresh, fresh_state = await run(True)
    assert fresh.job_id != first.job_id
    assert fresh_state.is_completed()
    assert control.job_count() == 2
