"""Paths, workload sizes and the runner's log line."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
WORK = BENCH / "workloads"
RESULTS = BENCH / "results"
DOCS_PAGE = ROOT / "docs" / "performance.md"
INCUMBENT = "qcsc-prefect-qiskit==0.3.0"
INCUMBENT_VENV = BENCH / ".venv-incumbent"
QISKIT1_VENV = BENCH / ".venv-qiskit1"
QISKIT1_REQUIREMENTS = ["qiskit>=1.4,<2", "qiskit-ibm-runtime>=0.37,<0.52", "prefect"]

#: Every workload number, in the order the table lists them.
ALL_WORKLOADS = "1,2,3,4,5,6,7,8,9"

#: The libraries compared with native Qiskit.
LIBS = ("ours", "incumbent")


def log(message: str) -> None:
    """Print one progress line, time-stamped."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# Seconds the emulator waits before answering each request (``serve --latency``): a nearby
# service; IBM Quantum's round trips are longer. Until the emulator sent its answers without
# delay, every run met about the same latency by accident (Nagle's algorithm meeting delayed
# ACKs, ~44 ms per request), so figures stay comparable across that change.
SERVICE_LATENCY = 0.04


def _in_flight_reps() -> dict[str, int]:
    return {"native": 1, "plain": 1, "ours": 2, "incumbent": 1}


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does (the full run's defaults)."""

    overhead_processes: int = 2
    overhead_rounds: int = 5
    overhead_pubs: str = "1,20"
    digest_pubs: int = 100
    digest_ours_processes: int = 2
    digest_ours_reps: int = 5
    digest_incumbent_reps: int = 2
    in_flight_jobs: int = 100
    in_flight_queue_delay: float = 1.0
    in_flight_reps: dict[str, int] = field(default_factory=_in_flight_reps)
    cached_jobs: int = 20
    cached_reruns: int = 2
    persisted_pubs: int = 100
    persisted_shots: int = 4096
    persisted_qubits: int = 20
    load_reps: int = 5
    scale_jobs: int = 1000
    scale_queue_delay: float = 1.0
    import_reps: int = 7


QUICK = Sizes(
    overhead_processes=1,
    overhead_rounds=1,
    overhead_pubs="1,2",
    digest_pubs=4,
    digest_ours_processes=1,
    digest_ours_reps=1,
    digest_incumbent_reps=1,
    in_flight_jobs=4,
    in_flight_queue_delay=0.2,
    in_flight_reps={"native": 1, "plain": 1, "ours": 1, "incumbent": 1},
    cached_jobs=2,
    cached_reruns=1,
    persisted_pubs=4,
    persisted_shots=256,
    persisted_qubits=20,
    load_reps=2,
    scale_jobs=8,
    scale_queue_delay=0.2,
    import_reps=1,
)
