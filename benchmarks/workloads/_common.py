"""Helpers shared by the benchmark workloads.

Every workload script runs in a fresh process of one of two virtualenvs: the project's own
(for ``--impl native`` and ``--impl ours``) or the incumbent's (``--impl incumbent``). Both hold
a package importable as ``qcsc_prefect.integrations.qiskit``; this module therefore imports
neither at module level, and only uses names the two implementations share.

A worker reports by printing lines that start with ``BENCH `` followed by one JSON object; the
runner ignores everything else (Prefect's own console output included).
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from typing import Any

warnings.filterwarnings("ignore", category=DeprecationWarning)

BACKEND_NAME = "ibm_fez"
MARKER = "BENCH "


def emit(**fields: Any) -> None:
    """Print one result record for the runner."""
    print(MARKER + json.dumps(fields, default=str), flush=True)


# --------------------------------------------------------------------------- emulator control


def _control() -> Any:
    """The emulator's control API (never logged as a runtime request); the emulator package is
    imported here only, so workloads that do not read the log run in venvs without it."""
    from qcsc_runtime_emulator import EmulatorControl
    from qcsc_runtime_emulator.server import CONTROL_PREFIX

    return EmulatorControl(
        os.environ["QCSC_BENCH_CONTROL_URL"].removesuffix(CONTROL_PREFIX), timeout=60
    )


def clear_log() -> None:
    _control().clear_log()


def read_log() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = _control().log()
    return entries


def request_kind(entry: dict[str, Any]) -> str:
    """Sort one logged request into the phase of a job's life it belongs to."""
    method = entry.get("method", "")
    path = entry.get("route_path") or entry.get("path", "")
    if entry.get("kind") == "other":
        return "auth"  # IAM token, instance search, catalog: service construction
    if path.startswith("/backends"):
        return "backend"
    if path.startswith("/instances"):
        return "usage"
    if path == "/jobs":
        return "submit" if method == "POST" else "lookup"
    if path.startswith("/jobs/"):
        if path.endswith("/results"):
            return "results"
        if path.endswith("/cancel"):
            return "cancel"
        if path.count("/") == 2:
            return "status"
        return "job-other"
    return "other"


def count_requests(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Requests per kind (``total`` included), control calls excluded."""
    counts: dict[str, int] = {"total": 0}
    for entry in entries:
        if entry.get("kind") == "control":
            continue
        kind = request_kind(entry)
        counts[kind] = counts.get(kind, 0) + 1
        counts["total"] += 1
    return counts


# --------------------------------------------------------------------------- implementations


def implementation() -> str:
    """``incumbent`` inside the incumbent's venv, ``ours`` otherwise."""
    from importlib.metadata import version

    return "incumbent" if version("qcsc-prefect-qiskit") == "0.3.0" else "ours"


def library() -> Any:
    import qcsc_prefect.integrations.qiskit as lib

    return lib


def runtime_config() -> Any:
    """No token and no channel: Qiskit's account discovery finds the emulator via env."""
    return library().QiskitRuntimeConfig(backend_name=BACKEND_NAME)


def job_id_of(reference: Any) -> str:
    """Job id of a submit task's reference: our `JobReference` or the incumbent's dict."""
    if isinstance(reference, dict):
        return str(reference["job_id"])
    return str(reference.job_id)


# --------------------------------------------------------------------------- circuits


def fez_target_backend() -> Any:
    from qiskit_ibm_runtime.fake_provider import FakeFez

    return FakeFez()


def isa_bell() -> Any:
    """A Bell circuit transpiled for ``ibm_fez`` (same target as the emulator's device)."""
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    manager = generate_preset_pass_manager(
        backend=fez_target_backend(), optimization_level=1, seed_transpiler=7
    )
    return manager.run(circuit)


def isa_uniform(num_qubits: int) -> Any:
    """Hadamards on ``num_qubits`` qubits, measured: uniformly random outcomes (worst case)."""
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    circuit = QuantumCircuit(num_qubits)
    circuit.h(range(num_qubits))
    circuit.measure_all()
    manager = generate_preset_pass_manager(
        backend=fez_target_backend(), optimization_level=1, seed_transpiler=7
    )
    return manager.run(circuit)


# --------------------------------------------------------------------------- threads


def os_threads() -> int:
    """OS threads of this process (``Threads:`` in /proc/self/status)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return threading.active_count()


class ThreadPeak:
    """Samples this process's OS thread count every few ms; ``peak`` excludes the sampler."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = os_threads()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-thread-peak", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, os_threads() - 1)
            time.sleep(self.interval)

    def __enter__(self) -> ThreadPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
