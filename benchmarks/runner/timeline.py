"""Where an in-flight run's wall time goes: its marks laid over the emulator's job records.

The workload process reports wall-clock marks (``main``, ``flow``, ``gathered``, ``end``) and when
each result reached the caller (``done_at``); the runner adds when it started the process and
when the process had exited, and the emulator's job records give the jobs' ``created`` and
``finished`` times. All are ``time.time()`` values on one machine, so they share one clock.

Phases, in order (seconds; they add up to launch-to-exit):

* ``interpreter``: process launched to the script's first line of work (Python, imports);
* ``setup``: to the flow's first line (Prefect, the library, the circuit, the flow run; for
  native: to the service construction);
* ``to_first_job``: flow start to the first job created;
* ``submission``: first to last job created;
* ``remaining_run``: last job created to last job finished (the emulator still working);
* ``tail``: last job finished to the last result in the caller's hands;
* ``flow_exit``: to the flow's return (Prefect's end-of-flow work);
* ``process_exit``: to the process's exit, as the runner saw it.

Requests are counted by kind per phase from the emulator's request log. The log keeps only its
newest entries (``LOG_LIMIT``), so a long run is read every few seconds while it goes and the
readings are merged (:class:`LogCollector`).
"""

from __future__ import annotations

import statistics
import sys
import threading
from typing import TYPE_CHECKING, Any

from qcsc_runtime_emulator import EmulatorControl
from qcsc_runtime_emulator.server import CONTROL_PREFIX, LOG_LIMIT

from .config import WORK
from .stats import parse_time

sys.path.insert(0, str(WORK))
from _common import request_kind

if TYPE_CHECKING:
    from types import TracebackType

#: Phase names in time order, with the mark each one ends at.
PHASES = (
    ("interpreter", "main"),
    ("setup", "flow"),
    ("to_first_job", "first_created"),
    ("submission", "last_created"),
    ("remaining_run", "last_finished"),
    ("tail", "gathered"),
    ("flow_exit", "end"),
    ("process_exit", "exited"),
)

#: Short labels for the table cells.
LABELS = {
    "interpreter": "python",
    "setup": "setup",
    "to_first_job": "to 1st job",
    "submission": "submitting",
    "remaining_run": "emulator still running",
    "tail": "tail",
    "flow_exit": "flow exit",
    "process_exit": "process exit",
}


def _entry_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    return (entry.get("time"), entry.get("method"), entry.get("path"), entry.get("query"))


class LogCollector:
    """Reads the emulator's request log every ``interval`` s while a run goes; merges readings.

    With ``interval`` ``None`` the log is read once, at the end (enough for short runs).
    """

    def __init__(self, control_url: str, interval: float | None) -> None:
        self._control = EmulatorControl(control_url.removesuffix(CONTROL_PREFIX), timeout=60)
        self._interval = interval
        self._entries: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-log", daemon=True)
        self.overflowed = False

    def _read(self) -> None:
        entries = self._control.log()
        fresh = [e for e in entries if _entry_key(e) not in self._entries]
        if len(entries) >= LOG_LIMIT and len(fresh) == len(entries) and self._entries:
            self.overflowed = True  # nothing in common with the last reading: entries lost
        self._entries.update((_entry_key(e), e) for e in fresh)

    def _poll(self) -> None:
        while self._interval is not None and not self._stop.wait(self._interval):
            self._read()

    def __enter__(self) -> LogCollector:
        if self._interval is not None:
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._read()

    def entries(self) -> list[dict[str, Any]]:
        """Every runtime request seen (control calls excluded), oldest first."""
        found = [e for e in self._entries.values() if e.get("kind") != "control"]
        return sorted(found, key=lambda e: float(e.get("time") or 0.0))


def kind_of(entry: dict[str, Any]) -> str:
    """``request_kind``, with the status poller's pending-jobs listing told apart."""
    kind = request_kind(entry)
    if kind == "lookup" and "pending" in str(entry.get("query", "")):
        return "list-pending"
    return kind


def _job_marks(jobs: list[dict[str, Any]]) -> dict[str, float]:
    created = [t for t in (parse_time(j.get("created")) for j in jobs) if t is not None]
    finished = [t for t in (parse_time(j.get("finished")) for j in jobs) if t is not None]
    if not created or not finished:
        return {}
    return {
        "first_created": min(created),
        "last_created": max(created),
        "last_finished": max(finished),
    }


def _requests_by_phase(
    entries: list[dict[str, Any]], bounds: list[tuple[str, float, float]]
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for entry in entries:
        at = float(entry.get("time") or 0.0)
        phase = next((name for name, low, high in bounds if low <= at < high), "outside")
        counts = out.setdefault(phase, {})
        kind = kind_of(entry)
        counts[kind] = counts.get(kind, 0) + 1
    return out


def _lags(jobs: list[dict[str, Any]], done_at: dict[str, float]) -> list[float]:
    """Per job: result in the caller's hands minus the job's finish on the emulator."""
    lags = []
    for job in jobs:
        finished = parse_time(job.get("finished"))
        done = done_at.get(str(job.get("id")))
        if finished is not None and done is not None:
            lags.append(done - finished)
    return lags


def build(
    record: dict[str, Any],
    jobs: list[dict[str, Any]],
    entries: list[dict[str, Any]],
    launched: float,
    exited: float,
) -> dict[str, Any]:
    """The timeline of one run: phases (s), requests by phase and kind, result lags (s)."""
    marks = {"launched": launched, **record.get("marks", {}), **_job_marks(jobs)}
    marks["exited"] = exited
    if not all(end in marks for _, end in PHASES):
        return {"error": "missing marks: " + ", ".join(e for _, e in PHASES if e not in marks)}
    starts = ["launched", *(end for _, end in PHASES[:-1])]
    bounds = [
        (name, marks[start], marks[end]) for (name, end), start in zip(PHASES, starts, strict=True)
    ]
    lags = _lags(jobs, record.get("done_at", {}))
    totals: dict[str, int] = {}
    for entry in entries:
        totals[kind_of(entry)] = totals.get(kind_of(entry), 0) + 1
    return {
        "phases": {name: high - low for name, low, high in bounds},
        "requests": _requests_by_phase(entries, bounds),
        "request_totals": totals,
        "lag_median": statistics.median(lags) if lags else None,
        "lag_max": max(lags) if lags else None,
        "cpu_s": record.get("cpu_s"),
        "first_request_after_flow": _first_request(entries, marks["flow"]),
    }


def _first_request(entries: list[dict[str, Any]], flow: float) -> float | None:
    """Seconds from the flow's start to its first runtime request (any kind)."""
    times = [float(e["time"]) for e in entries if e.get("time") and float(e["time"]) >= flow]
    return min(times) - flow if times else None


def phases_text(timeline: dict[str, Any]) -> str:
    """``python 0.9 · setup 2.1 · ...`` (seconds), or why there is no timeline."""
    if "phases" not in timeline:
        return str(timeline.get("error", "n/a"))
    parts = [f"{LABELS[name]} {seconds:.1f}" for name, seconds in timeline["phases"].items()]
    text = " · ".join(parts) + " s"
    if timeline.get("lag_median") is not None:
        text += f"; result lag after finish: median {timeline['lag_median']:.2f} s"
        text += f", max {timeline['lag_max']:.2f} s"
    if timeline.get("first_request_after_flow") is not None:
        text += (
            f"; first runtime request {timeline['first_request_after_flow']:.1f} s after flow start"
        )
    if timeline.get("cpu_s") is not None:
        text += f"; process CPU {timeline['cpu_s']:.1f} s"
    return text


def requests_text(timeline: dict[str, Any], jobs: int) -> str:
    """Requests per job by kind, e.g. ``6.1 per job (submit 1.0, status 2.0, ...)``."""
    totals: dict[str, int] = timeline.get("request_totals") or {}
    if not totals or jobs <= 0:
        return "n/a"
    total = sum(totals.values())
    kinds = ", ".join(f"{k} {v / jobs:.2f}" for k, v in sorted(totals.items()))
    return f"{total / jobs:.2f} per job ({kinds})"


def _median_of(timelines: list[dict[str, Any]], key: str) -> float | None:
    values = [t[key] for t in timelines if t.get(key) is not None]
    return statistics.median(values) if values else None


def merged(timelines: list[dict[str, Any]]) -> dict[str, Any]:
    """Median phases, lags and request counts over repetitions (the ones with phases)."""
    usable = [t for t in timelines if "phases" in t]
    if not usable:
        return timelines[0] if timelines else {"error": "n/a"}
    kinds = {k for t in usable for k in t.get("request_totals", {})}
    out: dict[str, Any] = {
        "phases": {
            name: statistics.median([t["phases"][name] for t in usable]) for name, _ in PHASES
        },
        "request_totals": {
            k: round(statistics.median([t.get("request_totals", {}).get(k, 0) for t in usable]))
            for k in kinds
        },
    }
    for key in ("lag_median", "lag_max", "first_request_after_flow", "cpu_s"):
        out[key] = _median_of(usable, key)
    return out
