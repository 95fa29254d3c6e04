"""Workload 6: a persisted fetch result of 100 pubs x 4096 shots x 20 qubits.

``produce`` (in the implementation's venv) runs one job of 100 pubs, each a 20-qubit layer of
Hadamards (uniformly random outcomes: the worst case for compression), and fetches it with
``fetch_qiskit_job_result_task.with_options(cache_key_fn=qiskit_result_fetch_cache_key,
persist_result=True, result_serializer=...)`` (``qiskit-runtime-json`` for ours, the documented
``compressed/pickle`` for the incumbent). It reports the record file Prefect wrote and a
fingerprint of the measured bits.

``load`` reads that record file the way Prefect does (``ResultRecord.deserialize``) in a fresh
process — possibly a venv with another qiskit major version — and reports the load times and
the fingerprint it finds (equal fingerprints: an exact round trip). It only needs prefect, qiskit
and the implementation's package importable (``PYTHONPATH`` is enough).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

MARKER = "BENCH "


def say(**fields: Any) -> None:
    print(MARKER + json.dumps(fields, default=str), flush=True)


def fingerprint(result: Any) -> str:
    """SHA-256 over every pub's packed bits and shape."""
    digest = hashlib.sha256()
    for pub in result:
        bits = pub.data.meas
        digest.update(repr((bits.num_shots, bits.num_bits)).encode())
        digest.update(bits.array.tobytes())
    return digest.hexdigest()[:16]


def produce(pubs: int, shots: int, qubits: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import BACKEND_NAME, implementation, isa_uniform, library, runtime_config
    from prefect import flow
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    impl = implementation()
    lib = library()
    config = runtime_config()
    circuit = isa_uniform(qubits)
    serializer = "qiskit-runtime-json" if impl == "ours" else "compressed/pickle"

    @flow(name="bench-persisted-result")
    async def persisted_flow() -> Any:
        reference = await lib.submit_sampler_job_task(
            [circuit] * pubs, runtime_config=config, shots=shots
        )
        return await lib.fetch_qiskit_job_result_task.with_options(
            cache_key_fn=lib.qiskit_result_fetch_cache_key,
            persist_result=True,
            result_serializer=serializer,
        )(runtime_config=config, job_reference=reference, pubs=[circuit] * pubs)

    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value()).expanduser()
    before = {path for path in storage.rglob("*") if path.is_file()} if storage.exists() else set()
    output = asyncio.run(persisted_flow())
    records = []
    for path in storage.rglob("*"):
        if path.is_file() and path not in before:
            try:
                meta = json.loads(path.read_bytes())["metadata"]
            except (ValueError, KeyError):
                continue
            if meta.get("serializer", {}).get("type") == serializer:
                records.append(path)
    record = max(records, key=lambda path: path.stat().st_size)
    say(
        kind="persisted",
        impl=impl,
        backend=BACKEND_NAME,
        serializer=serializer,
        record=str(record),
        bytes=record.stat().st_size,
        fingerprint=fingerprint(output["result"]),
    )


def load(record: Path, reps: int) -> None:
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import qiskit

    try:
        import qcsc_prefect.integrations.qiskit  # noqa: F401  (registers serializers)
    except Exception as exc:
        say(kind="load", ok=False, qiskit=qiskit.__version__, error=f"import: {exc!r}"[:300])
        return
    import qiskit_ibm_runtime  # noqa: F401  (imported before timing: a load, not an import)
    from prefect.results import ResultRecord

    times = []
    found = None
    try:
        for _ in range(reps):
            started = time.perf_counter()
            value = ResultRecord.deserialize(record.read_bytes()).result
            times.append(time.perf_counter() - started)
            found = fingerprint(value["result"])
    except Exception as exc:
        say(
            kind="load",
            ok=False,
            qiskit=qiskit.__version__,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        return
    say(kind="load", ok=True, qiskit=qiskit.__version__, seconds=times, fingerprint=found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    produce_parser = sub.add_parser("produce")
    produce_parser.add_argument("--pubs", type=int, default=100)
    produce_parser.add_argument("--shots", type=int, default=4096)
    produce_parser.add_argument("--qubits", type=int, default=20)
    load_parser = sub.add_parser("load")
    load_parser.add_argument("--record", type=Path, required=True)
    load_parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    if args.command == "produce":
        produce(args.pubs, args.shots, args.qubits)
    else:
        load(args.record, args.reps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
