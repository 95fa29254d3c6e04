"""Run the selected workloads against one pair of servers; collect rows, series and notes."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import rows as R
from . import workloads as W

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .config import Sizes
    from .environments import Environments
    from .servers import Runner


@dataclass
class Session:
    """What one run has measured so far."""

    run: Runner
    sizes: Sizes
    envs: Environments
    raw: dict[str, Any] = field(default_factory=dict)
    rows: list[R.Row] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def libs(self) -> list[str]:
        """The libraries measured in this run."""
        return self.envs.libs


def _overhead(s: Session, only: set[str]) -> None:
    data = W.w1_overhead(s.run, s.sizes, s.libs)
    s.raw["overhead"] = data
    if "1" in only:
        new, s.series["overhead"] = R.overhead_rows(data, s.libs)
        s.rows += new
    if "2" in only:
        s.rows += R.request_rows(data, s.libs)
    for impl, tail in data["failures"].items():
        s.notes.append(f"Workload 1/2, {impl}: a process failed: {tail[-300:]}")


def _digest(s: Session, only: set[str]) -> None:
    data = s.raw["digest"] = W.w3_digest(s.run, s.sizes, s.libs)
    new, extra = R.digest_rows(data, s.libs)
    s.rows += new
    s.series.update(extra)


def _in_flight(s: Session, only: set[str]) -> None:
    data = s.raw["in_flight"] = W.w4_in_flight(s.run, s.sizes, s.libs)
    new, extra = R.in_flight_rows(data, s.libs, s.sizes)
    s.rows += new
    s.series.update(extra)
    for impl, tail in data["failures"].items():
        s.notes.append(f"Workload 4, {impl}: failed: {tail[-300:]}")


def _cached(s: Session, only: set[str]) -> None:
    data = s.raw["cached"] = W.w5_cached(s.run, s.sizes, s.libs)
    new, extra = R.cached_rows(data, s.libs, s.sizes)
    s.rows += new
    s.series.update(extra)


def _persisted(s: Session, only: set[str]) -> None:
    envs = s.envs
    data = W.w6_persisted(s.run, s.sizes, s.libs, envs.qiskit1, envs.qiskit1_note)
    s.raw["persisted"] = data
    new, extra = R.persisted_rows(data, s.libs, s.sizes)
    s.rows += new
    s.series.update(extra)


def _duplicates(s: Session, only: set[str]) -> None:
    data = s.raw["duplicates"] = W.w7_duplicates(s.run, s.libs)
    s.rows += R.duplicate_rows(data, s.libs)


def _scale(s: Session, only: set[str]) -> None:
    data = s.raw["scale"] = W.w8_scale(s.run, s.sizes)
    s.rows += R.scale_rows(data, s.sizes)


def _imports(s: Session, only: set[str]) -> None:
    data = s.raw["imports"] = W.w9_imports(s.run, s.sizes, s.libs)
    s.rows += R.import_rows(data, s.libs)
    for impl, tail in data["failures"].items():
        s.notes.append(f"Workload 9, {impl}: failed: {tail[-300:]}")


#: Workload steps in table order, each with the workload numbers that select it.
STEPS: tuple[tuple[frozenset[str], Callable[[Session, set[str]], None]], ...] = (
    (frozenset({"1", "2"}), _overhead),
    (frozenset({"3"}), _digest),
    (frozenset({"4"}), _in_flight),
    (frozenset({"5"}), _cached),
    (frozenset({"6"}), _persisted),
    (frozenset({"7"}), _duplicates),
    (frozenset({"8"}), _scale),
    (frozenset({"9"}), _imports),
)


def run_selected(s: Session, only: set[str], keep_logs: Path | None) -> None:
    """Run every step ``only`` selects, in table order; copy the workers' logs if asked."""
    for numbers, step in STEPS:
        if numbers & only:
            step(s, only)
    log_dir = s.run.tmp / "logs"
    if keep_logs is not None and log_dir.exists():
        shutil.rmtree(keep_logs, ignore_errors=True)
        shutil.copytree(log_dir, keep_logs)
