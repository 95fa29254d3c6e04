"""The adversarial reliability and security suite: shared fixtures and the summary table.

Every scenario records one row (jobs the server holds, live jobs, whether the result was right,
leaks, time) through the `scenario` fixture. At the end of the run the rows are printed as a
table and written to ``tests/reliability/last-summary.md`` (git-ignored).

Counting rules:

* *jobs created* is what the emulator holds, including duplicates the client's own POST retry
  created and the library cancelled before they ran;
* *live jobs* are the jobs that were not cancelled (what costs QPU time);
* a *duplicate* is a live job beyond the scenario's expected number, or a cancelled duplicate
  that nevertheless started running;
* a *lost result* is a scenario whose expected result did not come back right.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

HERE = Path(__file__).parent
WORKER = HERE / "crash_worker.py"
SUMMARY_FILE = HERE / "last-summary.md"
FEZ = "ibm_fez"


# --------------------------------------------------------------------------- summary rows


@dataclass
class Row:
    """One scenario's line in the summary table."""

    scenario: str
    jobs_created: int | None = None
    live_jobs: int | None = None
    expected_live: int | None = 1
    duplicates_ran: int = 0
    result_ok: bool | None = None
    leaks: int | None = None
    seconds: float = 0.0
    outcome: str = "?"
    notes: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        extra = 0
        if self.live_jobs is not None and self.expected_live is not None:
            extra = max(0, self.live_jobs - self.expected_live)
        return extra + self.duplicates_ran

    @property
    def lost(self) -> int:
        return 1 if self.result_ok is False else 0


_ROWS: list[Row] = []


class Scenario:
    """Handle a test uses to fill its summary row."""

    def __init__(self, row: Row, emulator: Any | None) -> None:
        self.row = row
        self._emulator = emulator
        self._started = time.monotonic()

    def jobs(
        self,
        emulator: Any | None = None,
        *,
        expected_live: int | None = 1,
        forced: frozenset[str] | set[str] = frozenset(),
    ) -> list[Any]:
        """Read the emulator's jobs into the row; return them.

        ``forced`` lists jobs the scenario itself cancelled or failed on purpose.
        """
        emu = emulator if emulator is not None else self._emulator
        jobs = emu.control.jobs()
        self.row.jobs_created = len(jobs)
        live = [job for job in jobs if job["status"] != "Cancelled"]
        self.row.live_jobs = len(live)
        self.row.expected_live = expected_live
        # A cancelled duplicate that ever started running cost QPU time: count it, unless the
        # scenario cancelled that job on purpose.
        self.row.duplicates_ran = sum(
            1
            for job in jobs
            if job["status"] == "Cancelled" and job.get("running") and job["id"] not in forced
        )
        return jobs

    def result(self, ok: bool) -> bool:
        self.row.result_ok = bool(ok) if self.row.result_ok is None else self.row.result_ok and ok
        return ok

    def leaks(self, count: int) -> None:
        self.row.leaks = (self.row.leaks or 0) + count

    def note(self, text: str) -> None:
        self.row.notes.append(text)

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def finish(self) -> None:
        self.row.seconds = self.elapsed()


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
    """Record this test's row in the summary table (also when it fails)."""
    name = request.node.name.removeprefix("test_")
    emulator = (
        request.getfixturevalue("runtime_emulator")
        if "runtime_emulator" in request.fixturenames
        else None
    )
    row = Row(scenario=name)
    handle = Scenario(row, emulator)
    _ROWS.append(row)
    request.node._reliability_row = row
    try:
        yield handle
    finally:
        handle.finish()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    row = getattr(item, "_reliability_row", None)
    if row is not None and (report.when == "call" or report.outcome != "passed"):
        if row.outcome in ("?", "passed"):
            row.outcome = report.outcome
    return report


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def summary_markdown(rows: list[Row]) -> str:
    header = (
        "| scenario | jobs created | live jobs | duplicates | result ok | lost results | "
        "leaks | time (s) | outcome | notes |"
    )
    lines = [header, "|" + "---|" * 10]
    for row in rows:
        cells = [
            row.scenario,
            row.jobs_created,
            row.live_jobs,
            row.duplicates,
            row.result_ok,
            row.lost,
            row.leaks,
            row.seconds,
            row.outcome,
            "; ".join(row.notes),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    duplicates = sum(row.duplicates for row in rows)
    lost = sum(row.lost for row in rows)
    leaks = sum(row.leaks or 0 for row in rows)
    failed = sum(1 for row in rows if row.outcome not in ("passed", "skipped"))
    total = sum(row.seconds for row in rows)
    lines.append("")
    lines.append(
        f"**{len(rows)} scenarios: {duplicates} duplicates, {lost} lost results, {leaks} leaks, "
        f"{failed} failed; {total:.0f} s in scenarios.**"
    )
    return "\n".join(lines) + "\n"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    text = summary_markdown(_ROWS)
    terminalreporter.section("reliability summary")
    terminalreporter.write(text)
    try:
        SUMMARY_FILE.write_text(text)
    except OSError as exc:  # a read-only checkout must not fail the run
        terminalreporter.write_line(f"(could not write {SUMMARY_FILE}: {exc})")


# --------------------------------------------------------------------------- circuits


@pytest.fixture(scope="session")
def fez_backend() -> Any:
    from qiskit_ibm_runtime.fake_provider import FakeFez

    return FakeFez()


@pytest.fixture(scope="session")
def pass_manager(fez_backend: Any) -> Any:
    return generate_preset_pass_manager(
        backend=fez_backend, optimization_level=1, seed_transpiler=7
    )


def basis_state_circuit(index: int, width: int = 6) -> QuantumCircuit:
    """A circuit whose noiseless outcome is exactly the bit string of ``index``."""
    circuit = QuantumCircuit(width)
    for bit in range(width):
        if (index >> bit) & 1:
            circuit.x(bit)
    circuit.measure_all()
    return circuit


def expected_bits(index: int, width: int = 6) -> str:
    return format(index, f"0{width}b")


@pytest.fixture(scope="session")
def isa_bell(pass_manager: Any) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return pass_manager.run(circuit)


@pytest.fixture(scope="session")
def isa_estimator_pub(pass_manager: Any) -> tuple[QuantumCircuit, list[SparsePauliOp]]:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    isa = pass_manager.run(circuit)
    return isa, [SparsePauliOp(label).apply_layout(isa.layout) for label in ("ZZ", "XX")]


def bell_ok(counts: dict[str, int], shots: int) -> bool:
    return sum(counts.values()) == shots and set(counts) == {"00", "11"}


# --------------------------------------------------------------------------- subprocesses


@pytest.fixture
def worker_env(runtime_emulator: Any) -> dict[str, str]:
    """Environment of a worker process: this run's Prefect API, storage, locks and emulator."""
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ)
    env.update(runtime_emulator.env())
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Worker:
    process: subprocess.Popen[str]
    stdout: str = ""
    stderr: str = ""

    def events(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def finish(self, timeout: float = 240) -> Worker:
        stdout, stderr = self.process.communicate(timeout=timeout)
        self.stdout += stdout
        self.stderr += stderr
        return self


@pytest.fixture
def start_worker(worker_env: dict[str, str]) -> Iterator[Callable[..., Worker]]:
    """Start ``crash_worker.py`` with the shared environment (plus ``extra_env``)."""
    started: list[Worker] = []

    def start(*args: str, extra_env: dict[str, str | None] | None = None) -> Worker:
        env = dict(worker_env)
        for name, value in (extra_env or {}).items():
            if value is None:
                env.pop(name, None)  # None removes the variable
            else:
                env[name] = value
        process = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        worker = Worker(process)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()  # only the processes this fixture started, by object
            worker.process.communicate()
