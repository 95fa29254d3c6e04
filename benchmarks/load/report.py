"""What ``make load`` prints: each run's row and the median, requests by kind, the CPU profile."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workloads._common import request_kind  # the classification `make bench` uses

#: The request kinds in print order; `job-other` is any other /jobs/{id}/... path.
KINDS = (
    "submit",
    "lookup",
    "status",
    "results",
    "metrics",
    "usage",
    "backend",
    "auth",
    "cancel",
    "job-other",
    "other",
)
TARGET_RATIO = 0.6
TARGET_REQUESTS = 8.0
PHASES = ("startup", "flow", "teardown")
PROFILE_ROWS = ("pre-sample", "imports", "ours", "prefect", "client", "other", "unsampled")

ROWS: tuple[tuple[str, str], ...] = (
    ("flow runs completed (rescheduled)", "{flow_runs_completed} ({flow_runs_rescheduled})"),
    ("jobs created / live / distinct inputs", "{jobs_created} / {jobs_live} / {distinct_inputs}"),
    ("results fetched (lost)", "{results_fetched} ({results_lost})"),
    ("requests per job", "{requests_per_job}"),
    ("submit latency p50 / p95 s", "{submit_latency_p50_s} / {submit_latency_p95_s}"),
    ("fetch latency p50 / p95 s", "{fetch_latency_p50_s} / {fetch_latency_p95_s}"),
    ("stack wall vs native script s", "{stack_wall_s} vs {native_script_wall_s}"),
    ("throughput ratio (native / stack)", "{throughput_ratio_vs_native}"),
    ("exactly-once", "{verdict}"),
)


def request_kinds(log: list[dict[str, Any]]) -> dict[str, int]:
    """Requests per kind: `make bench`'s classification, with /jobs/{id}/metrics split out."""
    counts = dict.fromkeys(KINDS, 0)
    for entry in log:
        if entry.get("kind") == "control":
            continue
        kind = request_kind(entry)
        path = entry.get("route_path") or entry.get("path", "")
        if kind == "job-other" and path.endswith("/metrics"):
            kind = "metrics"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def print_runs(summaries: list[dict[str, Any]]) -> dict[str, float]:
    """Print one column per run and the medians; return the medians."""
    ratio = statistics.median(s["throughput_ratio_vs_native"] for s in summaries)
    requests = statistics.median(s["requests_per_job"] for s in summaries)
    width = max(len(label) for label, _ in ROWS)
    header = "".join(f"{'run ' + str(i + 1):>20}" for i in range(len(summaries)))
    print(f"\n{'':<{width}}{header}")
    for label, template in ROWS:
        cells = "".join(f"{template.format(**s):>20}" for s in summaries)
        print(f"{label:<{width}}{cells}")
    ratio_met = "met" if ratio >= TARGET_RATIO else "NOT met"
    requests_met = "met" if requests <= TARGET_REQUESTS else "NOT met"
    print(f"median throughput ratio {ratio:.2f} (target >= {TARGET_RATIO}: {ratio_met})")
    print(f"median requests per job {requests:.2f} (target <= {TARGET_REQUESTS:g}: {requests_met})")
    return {"throughput_ratio_vs_native": ratio, "requests_per_job": requests}


def print_kinds(summaries: list[dict[str, Any]]) -> None:
    """Requests per job by kind, one column per run."""
    print("\nrequests per job by kind (all client requests of the run / jobs created)")
    header = "".join(f"{'run ' + str(i + 1):>8}" for i in range(len(summaries)))
    print(f"  {'kind':<10}{header}")
    for kind in (*KINDS, "total"):
        cells = []
        for summary in summaries:
            per_job = summary["requests_by_kind"].get(kind, 0) / max(1, summary["jobs_created"])
            cells.append(f"{per_job:>8.2f}")
        if kind == "total" or any(summary["requests_by_kind"].get(kind) for summary in summaries):
            print(f"  {kind:<10}{''.join(cells)}")


def print_cpu(summaries: list[dict[str, Any]]) -> None:
    """CPU-seconds per run: the machine, the stack's services, the hosts and their flow runs."""
    print("\nCPU-seconds during the stack phase (from /proc; the killed host not counted)")
    names = list(summaries[0].get("cpu_s", {}))
    header = "".join(f"{'run ' + str(i + 1):>9}" for i in range(len(summaries)))
    print(f"  {'':<28}{header}")
    for name in names:
        cells = "".join(f"{s.get('cpu_s', {}).get(name, 0):>9}" for s in summaries)
        print(f"  {name:<28}{cells}")


def read_profiles(directory: Path) -> list[dict[str, Any]]:
    """The profiles the flow-run processes wrote (a killed process writes none)."""
    if not directory.exists():
        return []
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def print_profile(profiles: list[dict[str, Any]]) -> None:
    """CPU-seconds of one flow-run process: mean over ``profiles``, by category and phase."""
    if not profiles:
        print("\nno CPU profile (the profiled flow run was killed, or --profile 0)")
        return
    print(f"\nCPU-seconds of one flow-run process (mean of {len(profiles)} profiled)")
    print(f"  {'':<12}" + "".join(f"{p:>10}" for p in (*PHASES, "total")))
    for row in PROFILE_ROWS:
        cells = [_mean([p["phases"].get(ph, {}).get(row, 0.0) for p in profiles]) for ph in PHASES]
        print(f"  {row:<12}" + "".join(f"{c:>10.2f}" for c in (*cells, sum(cells))))
    totals = [_mean([sum(p["phases"].get(ph, {}).values()) for p in profiles]) for ph in PHASES]
    print(f"  {'total':<12}" + "".join(f"{c:>10.2f}" for c in (*totals, sum(totals))))
    walls = {ph: _mean([p["phase_wall_s"].get(ph, 0.0) for p in profiles]) for ph in PHASES}
    wall = _mean([p["wall_s"] for p in profiles])
    print(
        f"  wall: flow starts at {walls['flow']:.1f} s, returns at {walls['teardown']:.1f} s,"
        f" process ends at {wall:.1f} s; sampler's own CPU"
        f" {_mean([p['sampler_cpu_s'] for p in profiles]):.2f} s (not in the table);"
        f" threads at most {max(p['threads_max'] for p in profiles)}"
    )
    _print_breakdowns(profiles)


def _top(profiles: list[dict[str, Any]], key: str, sub: str | None = None, n: int = 6) -> str:
    totals: dict[str, float] = {}
    for profile in profiles:
        table = profile[key] if sub is None else profile[key].get(sub, {})
        for name, value in table.items():
            totals[name] = totals.get(name, 0.0) + value / len(profiles)
    ordered = sorted(totals.items(), key=lambda item: -item[1])[:n]
    return ", ".join(f"{name} {value:.2f}" for name, value in ordered) or "-"


def _print_breakdowns(profiles: list[dict[str, Any]]) -> None:
    print(f"  imports by package (self): {_top(profiles, 'imports_by_package', n=8)}")
    print(f"  imports by package (inclusive): {_top(profiles, 'imports_inclusive', n=8)}")
    print(f"  Prefect/client CPU under our frames: {_top(profiles, 'called_from_ours')}")
    for category in ("ours", "prefect", "client"):
        print(f"  hottest {category}: {_top(profiles, 'hot', category, n=5)}")
