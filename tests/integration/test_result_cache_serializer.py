"""Prefect result cache with the qiskit-runtime-json serializer, on the run's real Prefect API.

Covers the documented "Restore with Prefect result cache" recipe: a fetch-like task persisted with
``result_serializer="qiskit-runtime-json"`` and ``qiskit_result_fetch_cache_key`` is ``Cached``
on the second run with an equal result; a corrupted record is a silent miss, so the body runs
again (a refetch by job id) and rewrites the record.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, task
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import BitArray, DataBin, SamplerPubResult

from qcsc_prefect.integrations.qiskit.cache import qiskit_result_fetch_cache_key
from qcsc_prefect.integrations.qiskit.errors import ResultCacheError
from qcsc_prefect.integrations.qiskit.serializers import QiskitRuntimeJSONSerializer

_FETCHES: list[str] = []


def _result(job_id: str) -> PrimitiveResult:
    rng = np.random.default_rng(sum(job_id.encode()))
    bits = BitArray.from_bool_array(rng.integers(0, 2, size=(128, 5)).astype(bool))
    return PrimitiveResult([SamplerPubResult(DataBin(meas=bits, shape=()))], metadata={"v": 2})


@task(
    cache_key_fn=qiskit_result_fetch_cache_key,
    persist_result=True,
    result_serializer="qiskit-runtime-json",
)
def fake_fetch(job_reference: str) -> dict[str, Any]:
    _FETCHES.append(job_reference)
    return {
        "job_id": job_reference,
        "backend_name": "ibm_fez",
        "primitive": "sampler",
        "status": "DONE",
        "result": _result(job_reference),
        "metadata": {"shots": 128},
    }


@flow
def fetch_flow(job_reference: str) -> tuple[str, dict[str, Any]]:
    state = fake_fetch(job_reference, return_state=True)
    return state.name or "", state.result()


def _record_path(job_id: str) -> Path:
    key = qiskit_result_fetch_cache_key(None, {"job_reference": job_id})
    return Path(os.environ["PREFECT_LOCAL_STORAGE_PATH"]) / key


def _loads_ok(path: Path) -> bool:
    value = json.loads(path.read_text())["result"]
    try:
        QiskitRuntimeJSONSerializer().loads(value.encode())
    except ResultCacheError:
        return False
    return True


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    left, right = a["result"][0].data.meas, b["result"][0].data.meas
    return (
        {k: a[k] for k in a if k != "result"} == {k: b[k] for k in b if k != "result"}
        and np.array_equal(left.array, right.array)
        and left.num_bits == right.num_bits
    )


def test_second_fetch_is_cached_with_an_equal_result() -> None:
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    first_state, first = fetch_flow(job_id)
    second_state, second = fetch_flow(job_id)
    assert (first_state, second_state) == ("Completed", "Cached")
    assert _FETCHES.count(job_id) == 1
    assert _same(first, second)
    record = _record_path(job_id).read_text()
    assert '"type":"qiskit-runtime-json"' in record.replace(" ", "")


def test_corrupted_record_makes_prefect_fetch_again() -> None:
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    _, first = fetch_flow(job_id)
    path = _record_path(job_id)
    text = path.read_text()
    # Keep the record's JSON valid but break the serialized value inside it.
    start = text.index('"result":"') + len('"result":"')
    path.write_text(text[:start] + "AAAA" + text[start + 4 :])
    assert not _loads_ok(path)
    state, again = fetch_flow(job_id)
    assert state == "Completed"  # a miss: the body ran again (a refetch by job id)
    assert _FETCHES.count(job_id) == 2
    assert _same(first, again)
    # The record was rewritten and is readable again.
    state, cached = fetch_flow(job_id)
    assert state == "Cached" and _same(first, cached) and _loads_ok(path)
