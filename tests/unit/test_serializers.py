"""qiskit-runtime-json serializer: exact round trips, registration, clear errors, size/speed."""

from __future__ import annotations

import base64
import json
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prefect.serializers import CompressedPickleSerializer, Serializer
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import BitArray, DataBin, PubResult, SamplerPubResult
from qiskit_ibm_runtime import RuntimeEncoder
from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans

from qcsc_prefect.integrations.qiskit.errors import ResultCacheError
from qcsc_prefect.integrations.qiskit.jobs import JobReference
from qcsc_prefect.integrations.qiskit.serializers import (
    FORMAT_NAME,
    QiskitRuntimeJSONSerializer,
)

SERIALIZER = QiskitRuntimeJSONSerializer()
START = datetime(2026, 1, 1, tzinfo=UTC)


def sampler_result(pubs: int = 3, shots: int = 256, qubits: int = 20, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    results = []
    spans = []
    for index in range(pubs):
        bits = rng.integers(0, 2, size=(shots, qubits)).astype(bool)
        data = DataBin(
            meas=BitArray.from_bool_array(bits),
            c2=BitArray.from_bool_array(bits[:, :3]),
            shape=(),
        )
        results.append(SamplerPubResult(data, metadata={"circuit_metadata": {"i": index}}))
        spans.append(
            DoubleSliceSpan(
                START + timedelta(seconds=index),
                START + timedelta(seconds=index + 1),
                {index: ((shots,), slice(0, 1), slice(0, shots))},
            )
        )
    return PrimitiveResult(
        results, metadata={"execution": {"execution_spans": ExecutionSpans(spans)}, "version": 2}
    )


def estimator_result(seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    return PrimitiveResult(
        [
            PubResult(
                DataBin(evs=rng.normal(size=(2, 3)), stds=rng.random((2, 3)), shape=(2, 3)),
                metadata={"target_precision": 0.01, "shots": 10_000},
            ),
            PubResult(
                DataBin(evs=np.asarray(0.25), stds=np.asarray(0.125), shape=()),
                metadata={"target_precision": 0.1},
            ),
        ],
        metadata={"version": 2},
    )


def fetch_output(result: Any, primitive: str = "sampler") -> dict[str, Any]:
    return {
        "job_id": "dc2noi38di15fclre9ng",
        "backend_name": "ibm_fez",
        "primitive": primitive,
        "status": "DONE",
        "result": result,
        "metadata": {"shots": 256, "num_pubs": 3, "finished_at": START, "usage": {"quantum": 2}},
    }


def assert_same_sampler(a: Any, b: Any) -> None:
    assert type(b) is type(a) and len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        assert type(right) is type(left)
        assert set(left.data) == set(right.data)
        for name in left.data:
            x, y = left.data[name], right.data[name]
            assert x.num_bits == y.num_bits and x.shape == y.shape
            assert np.array_equal(x.array, y.array) and x.array.dtype == y.array.dtype
            assert x.get_counts() == y.get_counts()
        assert left.metadata == right.metadata
    spans_a = a.metadata["execution"]["execution_spans"]
    spans_b = b.metadata["execution"]["execution_spans"]
    assert [(s.start, s.stop, s.pub_idxs) for s in spans_a] == [
        (s.start, s.stop, s.pub_idxs) for s in spans_b
    ]


# -------------------------------------------------------------------------------- registry


def test_registered_by_type_string() -> None:
    assert isinstance(Serializer(type="qiskit-runtime-json"), QiskitRuntimeJSONSerializer)
    assert SERIALIZER.type == "qiskit-runtime-json"


# ------------------------------------------------------------------------------ round trips


def test_sampler_fetch_output_round_trips_exactly() -> None:
    output = fetch_output(sampler_result())
    loaded = SERIALIZER.loads(SERIALIZER.dumps(output))
    assert set(loaded) == {"job_id", "backend_name", "primitive", "status", "result", "metadata"}
    assert {k: loaded[k] for k in ("job_id", "backend_name", "primitive", "status")} == {
        k: output[k] for k in ("job_id", "backend_name", "primitive", "status")
    }
    assert loaded["metadata"] == output["metadata"]
    assert_same_sampler(output["result"], loaded["result"])


def test_estimator_fetch_output_round_trips_exactly() -> None:
    output = fetch_output(estimator_result(), "estimator")
    loaded = SERIALIZER.loads(SERIALIZER.dumps(output))
    for left, right in zip(output["result"], loaded["result"], strict=True):
        for name in ("evs", "stds"):
            x, y = np.asarray(left.data[name]), np.asarray(right.data[name])
            assert x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y)
        assert left.metadata == right.metadata
        assert left.data.shape == right.data.shape
    assert loaded["result"].metadata == output["result"].metadata


@settings(max_examples=25, deadline=None)
@given(
    shots=st.integers(1, 64),
    num_bits=st.integers(1, 40),
    shape=st.lists(st.integers(1, 3), max_size=2),
    seed=st.integers(0, 2**16),
)
def test_any_bit_array_round_trips(shots: int, num_bits: int, shape: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    bits = BitArray.from_bool_array(rng.integers(0, 2, size=(*shape, shots, num_bits)).astype(bool))
    loaded = SERIALIZER.loads(SERIALIZER.dumps({"bits": bits}))["bits"]
    assert loaded.num_bits == bits.num_bits and loaded.shape == bits.shape
    assert np.array_equal(loaded.array, bits.array)
    assert loaded.get_counts() == bits.get_counts()


def test_job_reference_and_plain_values_round_trip() -> None:
    reference = JobReference(
        job_id="j1", primitive="sampler", backend_name="ibm_fez", submitted_at=START
    )
    value = {
        "ref": reference,
        "n": np.int32(3),
        "x": np.float32(0.5),
        "items": [1, 2.5, None, "s"],
        "nested": {"when": START},
    }
    loaded = SERIALIZER.loads(SERIALIZER.dumps(value))
    assert loaded["ref"] == reference
    assert loaded["n"] == 3 and loaded["x"] == 0.5
    assert loaded["items"] == [1, 2.5, None, "s"]
    assert loaded["nested"]["when"] == START


def test_output_is_ascii_and_plain_runtime_json_inside() -> None:
    blob = SERIALIZER.dumps(fetch_output(estimator_result(), "estimator"))
    blob.decode("ascii")
    envelope = json.loads(zlib.decompress(base64.b64decode(blob)))
    assert envelope["format"] == FORMAT_NAME and envelope["version"] == 1
    # Estimator data are RuntimeEncoder's own ndarray encoding.
    assert envelope["payload"]["result"]["__type__"] == "PrimitiveResult"


# ---------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not base64 !!",
        base64.b64encode(b"not zlib"),
        base64.b64encode(zlib.compress(b"\xff\xfe")),
        base64.b64encode(zlib.compress(b"{not json")),
        base64.b64encode(zlib.compress(b'{"format": "other", "payload": 1}')),
        base64.b64encode(
            zlib.compress(f'{{"format": "{FORMAT_NAME}", "version": 99, "payload": 1}}'.encode())
        ),
        base64.b64encode(
            zlib.compress(
                b'{"format": "qcsc-qiskit-runtime-json", "version": 1, '
                b'"payload": {"__type__": "BitArray", "__value__": 3}}'
            )
        ),
        CompressedPickleSerializer().dumps({"a": 1}),
    ],
)
def test_unreadable_data_raises_result_cache_error(blob: bytes) -> None:
    with pytest.raises(ResultCacheError):
        SERIALIZER.loads(blob)


def test_truncated_record_raises_result_cache_error() -> None:
    blob = SERIALIZER.dumps(fetch_output(sampler_result()))
    with pytest.raises(ResultCacheError):
        SERIALIZER.loads(blob[: len(blob) // 2])


def test_unencodable_value_raises_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="qiskit-runtime-json"):
        SERIALIZER.dumps({"thing": object()})


# --------------------------------------------------------------------------- size and speed


def test_size_and_speed_sanity() -> None:
    output = fetch_output(sampler_result(pubs=20, shots=4096, qubits=20))
    start = time.perf_counter()
    blob = SERIALIZER.dumps(output)
    dumped = time.perf_counter() - start
    start = time.perf_counter()
    SERIALIZER.loads(blob)
    loaded = time.perf_counter() - start
    raw_bits = 20 * 4096 * (20 + 3) / 8  # entropy of the random outcomes
    assert len(blob) < 1.45 * raw_bits  # base64 (4/3) plus a little
    plain = base64.b64encode(zlib.compress(json.dumps(output, cls=RuntimeEncoder).encode(), 6))
    assert len(blob) < len(plain)  # byte-plane BitArrays beat plain RuntimeEncoder JSON
    assert dumped < 2.0 and loaded < 1.0
