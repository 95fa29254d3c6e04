"""The baseline: a plain qiskit-ibm-runtime script submitting the same jobs from one process.

``python native.py SALT INDICES_JSON`` (environment: the emulator's client variables) builds
the same circuits as the load test's flows, submits one ``SamplerV2`` job per entry of
INDICES_JSON (duplicates included: the same 200 submissions the flows make), waits for every
result and prints ``{"wall_seconds", "job_ids", "requests"}`` as JSON. No Prefect, no library.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flows import BACKEND, SHOTS, load_circuits


def main() -> int:
    """Submit every job, then wait for every result; print the wall time."""
    salt = float(sys.argv[1])
    indices: list[int] = json.loads(sys.argv[2])
    backend = QiskitRuntimeService().backend(BACKEND)
    distinct = sorted(set(indices))
    manager = generate_preset_pass_manager(backend=backend, optimization_level=1)
    isa = dict(zip(distinct, manager.run(load_circuits(salt, distinct)), strict=True))
    sampler = SamplerV2(mode=backend)
    sampler.options.environment.job_tags = [f"native-baseline-{salt}"]
    start = time.perf_counter()
    jobs = [sampler.run([isa[index]], shots=SHOTS) for index in indices]
    counts = [sum(job.result()[0].data.meas.get_counts().values()) for job in jobs]
    wall = time.perf_counter() - start
    assert all(count == SHOTS for count in counts)
    print(json.dumps({"wall_seconds": wall, "job_ids": [job.job_id() for job in jobs]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
