"""Table rows: figures computed from the raw records, with their targets and verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import timeline as T
from .stats import med, spread
from .workloads import SCENARIOS

if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import Sizes

X = "\u00d7"


@dataclass
class Row:
    """One line of the results table."""

    number: str
    figure: str
    native: str
    ours: str
    incumbent: str
    ratio: str
    target: str
    met: str


def verdict(ok: bool | None) -> str:
    """``yes``, a bold ``no``, or ``n/a`` when there was nothing to judge."""
    return "n/a" if ok is None else ("yes" if ok else "**no**")


# ----------------------------------------------------------------------- 1: per-task overhead

#: Seconds per call, keyed by (impl, variant, pubs, process, round).
_Calls = dict[tuple[str, str, int, int, int], float]


def _call_seconds(calls: list[dict[str, Any]]) -> _Calls:
    return {
        (c["impl"], c["variant"], c["pubs"], c["process"], c["round"]): c["seconds"]
        for c in calls
        if c["round"] >= 0
    }


def _paired_overheads(by: _Calls, impl: str, mode: str, count: int) -> list[float]:
    """``mode`` call minus the plain task of the same process and round."""
    return [
        v - by[(impl, "plain", count, proc, rnd)]
        for (i, var, p, proc, rnd), v in by.items()
        if i == impl and var == mode and p == count and (impl, "plain", count, proc, rnd) in by
    ]


def _seconds_of(by: _Calls, impl: str, variant: str | None, count: int) -> list[float]:
    return [
        v
        for (i, var, p, _, _), v in by.items()
        if i == impl and p == count and (variant is None or var == variant)
    ]


def overhead_ratio(ours: list[float], inc: list[float]) -> tuple[str, bool | None]:
    """Ratio of median overheads; a median at or below zero is reported as such."""
    if not ours or not inc:
        return "n/a", None
    o, i = med(ours), med(inc)
    if i <= 0:
        return f"incumbent {i * 1000:.0f} ms \u2264 0", o <= i
    if o <= 0:
        return f"ours \u2264 0 (incumbent +{i * 1000:.0f} ms)", True
    return f"{o / i:.2f}{X}", o / i <= 0.5


def overhead_rows(data: dict[str, Any], libs: list[str]) -> tuple[list[Row], dict[str, Any]]:
    """Workload 1: overhead over a plain ``@task`` per mode and pub count, and chart series."""
    by = _call_seconds(data["calls"])
    rows: list[Row] = []
    chart: dict[str, Any] = {}
    for mode in ("simple", "robust"):
        for count in sorted({call["pubs"] for call in data["calls"]}):
            overheads = {impl: _paired_overheads(by, impl, mode, count) for impl in libs}
            plain = [v for impl in libs for v in _seconds_of(by, impl, "plain", count)]
            native = _seconds_of(by, "native", None, count)
            ours, inc = overheads.get("ours", []), overheads.get("incumbent", [])
            ratio_text, ok = overhead_ratio(ours, inc)
            label = "Bell" if count == 1 else f"{count} pubs"
            rows.append(
                Row(
                    "1",
                    f"Per-task overhead over a plain `@task`, {mode} mode, {label} (ms)",
                    f"native call {spread(native, 1000)}; plain task {spread(plain, 1000)}",
                    spread(ours, 1000),
                    spread(inc, 1000) if "incumbent" in libs else "not run",
                    ratio_text,
                    f"≤ 0.5{X} incumbent",
                    verdict(ok),
                )
            )
            chart[f"{mode}\n{label}"] = overheads
    return rows, chart


# ----------------------------------------------------------------------- 2: requests


def _steady(calls: list[dict[str, Any]], impl: str, variant: str) -> list[dict[str, Any]]:
    """Later calls (not the first in a process) of one Bell pub."""
    return [
        c
        for c in calls
        if c["impl"] == impl and c["variant"] == variant and c["round"] >= 0 and c["pubs"] == 1
    ]


def _lib_cold(calls: list[dict[str, Any]], impl: str) -> int | None:
    first = [
        c
        for c in calls
        if c["impl"] == impl and c["variant"] == "simple" and c["round"] == -1 and c["process"] == 0
    ]
    return int(first[0]["requests"]["total"]) if first else None


def _detail(calls: list[dict[str, Any]], impl: str, variant: str) -> str:
    sample = _steady(calls, impl, variant)
    if not sample:
        return ""
    counts = sample[len(sample) // 2]["requests"]
    return " (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "total") + ")"


def _cold_row(data: dict[str, Any]) -> Row:
    cold = data.get("native_cold") or {}
    native = sum(phase.get("total", 0) for phase in cold.values()) if cold else None
    cold_text = "n/a"
    if cold:
        names = ("construction", "submit", "fetch")
        cold_text = f"{native} (" + ", ".join(f"{n} {cold[n]['total']}" for n in names) + ")"
    ours, inc = _lib_cold(data["calls"], "ours"), _lib_cold(data["calls"], "incumbent")
    delta = None if ours is None or native is None else ours - native
    return Row(
        "2",
        "HTTP requests, first job in a fresh process "
        "(simple mode; native: build service, submit, fetch)",
        cold_text,
        "n/a" if ours is None else str(ours),
        "n/a" if inc is None else str(inc),
        "n/a" if delta is None else f"native {delta:+d}",
        "≤ native + 2",
        verdict(None if delta is None else delta <= 2),
    )


def request_rows(data: dict[str, Any], libs: list[str]) -> list[Row]:
    """Workload 2: requests for the first job of a process and for every later one."""
    calls = data["calls"]
    native_steady = [c["requests"]["total"] for c in _steady(calls, "native", "native")]
    ns = med(native_steady) if native_steady else None
    rows = [_cold_row(data)]
    for variant in ("simple", "robust"):
        ours = [c["requests"]["total"] for c in _steady(calls, "ours", variant)]
        inc = [c["requests"]["total"] for c in _steady(calls, "incumbent", variant)]
        delta = None if not ours or ns is None else med(ours) - ns
        rows.append(
            Row(
                "2",
                f"HTTP requests per later job, {variant} mode (Bell)",
                "n/a" if ns is None else f"{ns:g}{_detail(calls, 'native', 'native')}",
                "n/a" if not ours else f"{med(ours):g}{_detail(calls, 'ours', variant)}",
                "n/a" if not inc else f"{med(inc):g}{_detail(calls, 'incumbent', variant)}",
                "n/a" if delta is None else f"native {delta:+g}",
                "≤ native + 2",
                verdict(None if delta is None else delta <= 2),
            )
        )
    return rows


# ----------------------------------------------------------------------- 3: digest


def digest_rows(data: dict[str, Any], libs: list[str]) -> tuple[list[Row], dict[str, Any]]:
    """Workload 3: digest time against the incumbent, and peak traced memory."""
    if "error" in data:
        failed = f"failed: {data['error'][-200:]}"
        return [Row("3", "Input digest", "", failed, "", "", "", "**no**")], {}
    runs = data["runs"]
    times = {impl: [t for r in runs.get(impl, []) for t in r["seconds"]] for impl in libs}
    peaks = {impl: [r["peak_bytes"] for r in runs.get(impl, [])] for impl in libs}
    info = data.get("inputs", {})
    ours_t, inc_t = times.get("ours", []), times.get("incumbent", [])
    speedup = med(inc_t) / med(ours_t) if ours_t and inc_t else None
    ours_mb = max(peaks["ours"]) / 1e6 if peaks.get("ours") else None
    inc_mb = max(peaks["incumbent"]) / 1e6 if peaks.get("incumbent") else None
    size = f"{info.get('pubs', '?')} pubs {X} {info.get('qubits', '?')}-qubit circuits"
    rows = [
        Row(
            "3",
            f"Input digest, {size}: time (ms)",
            "—",
            spread(ours_t, 1000),
            spread(inc_t, 1000) if inc_t else "not run",
            "n/a" if speedup is None else f"{speedup:.1f}{X} faster",
            f"≥ 15{X} faster",
            verdict(None if speedup is None else speedup >= 15),
        ),
        Row(
            "3",
            "Input digest: peak traced memory (MB)",
            "—",
            "n/a" if ours_mb is None else f"{ours_mb:.1f}",
            "n/a" if inc_mb is None else f"{inc_mb:.1f}",
            "n/a" if not ours_mb or not inc_mb else f"{inc_mb / ours_mb:.0f}{X} less",
            "≤ 10 MB",
            verdict(None if ours_mb is None else ours_mb <= 10),
        ),
    ]
    return rows, {"digest": {impl: times.get(impl, []) for impl in libs}}


# ----------------------------------------------------------------------- 4 and 8: in flight


def _by_impl(runs: list[dict[str, Any]], impls: list[str], key: str) -> dict[str, list[float]]:
    if key == "ratio":
        return {i: [r["wall"] / r["makespan"] for r in runs if r["impl"] == i] for i in impls}
    if key == "fixed":
        return {i: [r["wall"] - r["makespan"] for r in runs if r["impl"] == i] for i in impls}
    return {i: [r[key] for r in runs if r["impl"] == i] for i in impls}


def in_flight_rows(
    data: dict[str, Any], libs: list[str], sizes: Sizes
) -> tuple[list[Row], dict[str, Any]]:
    """Workload 4: wall time over the emulator's makespan, and peak OS threads."""
    runs, impls = data["runs"], ["native", *libs]
    every = ["plain", *impls]
    ratio, wall = _by_impl(runs, every, "ratio"), _by_impl(runs, every, "wall")
    fixed = _by_impl(runs, every, "fixed")
    threads = _by_impl(runs, impls, "peak_threads")

    def cell(impl: str, values: dict[str, list[float]], digits: int = 2) -> str:
        if impl not in values or not values[impl]:
            return "failed" if impl in data["failures"] else "not run"
        return spread(values[impl], 1.0, digits)

    def walls(impl: str) -> str:
        return f"{cell(impl, ratio)} (wall {cell(impl, wall, 1)} s)"

    def fixed_cost(impl: str) -> str:
        return f"{cell(impl, fixed, 1)} s"

    ours_r = med(ratio["ours"]) if ratio.get("ours") else None
    ours_t = max(threads["ours"]) if threads.get("ours") else None
    inc_t = max(threads["incumbent"]) if threads.get("incumbent") else None
    both_walls = bool(wall.get("incumbent")) and bool(wall.get("ours"))
    n, delay = sizes.in_flight_jobs, sizes.in_flight_queue_delay
    rows = [
        Row(
            "4",
            f"{n} jobs in flight from one flow (queue delay {delay:g} s): wall / emulator makespan",
            walls("native"),
            walls("ours"),
            walls("incumbent") if "incumbent" in libs else "not run",
            f"wall {med(wall['ours']) / med(wall['incumbent']):.2f}{X}" if both_walls else "n/a",
            f"≤ 1.5{X}",
            verdict(None if ours_r is None else ours_r <= 1.5),
        ),
        Row(
            "4",
            f"{n} jobs in flight: wall minus makespan, the time around the emulator's work (native "
            f"column: the native script; plain Prefect `@task`s around the native call: "
            f"{walls('plain')}, {fixed_cost('plain')} around)",
            fixed_cost("native"),
            fixed_cost("ours"),
            fixed_cost("incumbent") if "incumbent" in libs else "not run",
            "—",
            "—",
            "—",
        ),
        Row(
            "4",
            f"{n} jobs in flight: peak OS threads",
            cell("native", threads, 0),
            cell("ours", threads, 0),
            cell("incumbent", threads, 0) if "incumbent" in libs else "not run",
            f"{inc_t / ours_t:.1f}{X} fewer" if inc_t and ours_t else "n/a",
            "≤ 20 threads",
            verdict(None if ours_t is None else ours_t <= 20),
        ),
    ]
    rows += _timeline_rows("4", f"{n} jobs in flight", runs, impls, libs, n)
    return rows, {"in_flight_wall": wall}


def _timeline_rows(
    number: str, what: str, runs: list[dict[str, Any]], impls: list[str], libs: list[str], n: int
) -> list[Row]:
    """The timeline of a run (median phases over repetitions) and its requests per job."""
    merged = {i: T.merged([r["timeline"] for r in runs if r["impl"] == i]) for i in impls}

    def cell(impl: str, text: Callable[[dict[str, Any]], str]) -> str:
        if impl not in impls or not any(r["impl"] == impl for r in runs):
            return "not run" if impl not in impls else "failed"
        return text(merged[impl])

    def row(figure: str, text: Callable[[dict[str, Any]], str]) -> Row:
        inc = cell("incumbent", text) if "incumbent" in libs else "not run"
        return Row(number, figure, cell("native", text), cell("ours", text), inc, "—", "—", "—")

    return [
        row(f"{what}: timeline, process launch to exit (median s)", T.phases_text),
        row(f"{what}: runtime requests per job", lambda t: T.requests_text(t, n)),
    ]


def scale_rows(data: dict[str, Any], sizes: Sizes) -> list[Row]:
    """Workload 8: one flow of ours with many jobs in flight, against the emulator's makespan."""
    n, delay = sizes.scale_jobs, sizes.scale_queue_delay
    figure = f"{n} jobs in flight from one flow (queue delay {delay:g} s)"
    record = data.get("run")
    if record is None:
        failed = "failed: " + str(data.get("error", ""))[-200:]
        return [Row("8", figure, "—", failed, "not run", "—", "", "**no**")]
    ratio = record["wall"] / record["makespan"]
    threads = int(record["peak_threads"])
    rss = record.get("peak_rss_mb")
    ours = (
        f"wall {record['wall']:.1f} s / makespan {record['makespan']:.1f} s = {ratio:.2f}{X}; "
        f"{threads} threads; peak RSS {'n/a' if rss is None else f'{rss:.0f} MB'}"
    )
    target = f"≤ 1.3{X} makespan, ≤ 20 threads"
    return [
        Row(
            "8", figure, "—", ours, "not run", "—", target, verdict(ratio <= 1.3 and threads <= 20)
        ),
        *_timeline_rows("8", f"{n} jobs in flight", [record], ["ours"], ["ours"], n),
    ]


# ----------------------------------------------------------------------- 5: cached rerun


def _cached_requests(data: dict[str, Any], impl: str) -> str:
    entry = data.get(impl, {})
    if "error" in entry:
        return "failed"
    reruns = entry.get("reruns", [])
    if not reruns:
        return "n/a"
    totals = [r["requests"]["total"] for r in reruns]
    jobs = [r["requests"].get("submit", 0) for r in reruns]
    return f"{med(totals):g} requests, {med(jobs):g} new jobs"


def _cached_walls(data: dict[str, Any], impl: str) -> str:
    entry = data.get(impl, {})
    if "first" not in entry:
        return "n/a"
    reruns = [r["wall"] for r in entry.get("reruns", [])]
    return f"{spread(reruns, 1, 2)} s (first run {entry['first']['wall']:.2f} s)"


def cached_rows(
    data: dict[str, Any], libs: list[str], sizes: Sizes
) -> tuple[list[Row], dict[str, Any]]:
    """Workload 5: requests and wall time of a rerun served from the submit cache."""
    walls = {i: [r["wall"] for r in data.get(i, {}).get("reruns", [])] for i in libs}
    ours = data.get("ours", {}).get("reruns", [])
    ours_total = max((r["requests"]["total"] for r in ours), default=None)
    inc_wall, ours_wall = walls.get("incumbent", []), walls.get("ours", [])
    n, has_inc = sizes.cached_jobs, "incumbent" in libs
    rows = [
        Row(
            "5",
            f"Cached rerun of a {n}-job robust flow: requests to the Runtime",
            _cached_requests(data, "native") + " (no cache)",
            _cached_requests(data, "ours"),
            _cached_requests(data, "incumbent") if has_inc else "not run",
            "—",
            "0 requests",
            verdict(None if ours_total is None else ours_total == 0),
        ),
        Row(
            "5",
            f"Cached rerun of a {n}-job flow: flow wall time",
            _cached_walls(data, "native"),
            _cached_walls(data, "ours"),
            _cached_walls(data, "incumbent") if has_inc else "not run",
            f"{med(ours_wall) / med(inc_wall):.2f}{X}" if inc_wall and ours_wall else "n/a",
            "—",
            "—",
        ),
    ]
    return rows, {"cached_wall": walls}


# ----------------------------------------------------------------------- 6: persisted result


def _persisted_size(entry: dict[str, Any]) -> str:
    if "produced" not in entry:
        return "failed" if "error" in entry else "not run"
    return f"{entry['produced']['bytes'] / 1e6:.2f} ({entry['produced']['serializer']})"


def _persisted_load(entry: dict[str, Any]) -> str:
    load = entry.get("load")
    if not load:
        return "not run"
    if not load.get("ok"):
        return "failed: " + str(load.get("error", ""))[:80]
    ok = load.get("fingerprint") == entry["produced"]["fingerprint"]
    return spread(load["seconds"], 1000, 0) + ("" if ok else " (bits differ!)")


def _persisted_cross(entry: dict[str, Any], note: str) -> tuple[str, bool | None]:
    cross = entry.get("cross")
    if cross is None:
        return f"not measured: {note}", None
    if not cross.get("ok"):
        return f"no (qiskit {cross.get('qiskit', '?')}: {cross.get('error', '')[:70]})", False
    if cross.get("fingerprint") != entry["produced"]["fingerprint"]:
        return f"loads under {cross['qiskit']} but bits differ", False
    return f"yes (qiskit {cross['qiskit']}, {med(cross['seconds']) * 1000:.0f} ms, exact)", True


def _load_ms(entry: dict[str, Any]) -> float | None:
    load = entry.get("load", {})
    return med(load["seconds"]) * 1000 if load.get("ok") else None


def persisted_rows(
    data: dict[str, Any], libs: list[str], sizes: Sizes
) -> tuple[list[Row], dict[str, Any]]:
    """Workload 6: bytes on disk, load time, and loading under another qiskit major version."""
    ours, inc = data.get("ours", {}), data.get("incumbent", {})
    has_inc = "incumbent" in libs
    ours_bytes = ours.get("produced", {}).get("bytes")
    inc_bytes = inc.get("produced", {}).get("bytes")
    ours_ms, inc_ms = _load_ms(ours), _load_ms(inc)
    note = data.get("qiskit1_note", "")
    ours_cross, ours_ok = _persisted_cross(ours, note)
    inc_cross = _persisted_cross(inc, note)[0] if has_inc else "not run"
    shape = f"{sizes.persisted_pubs} pubs {X} {sizes.persisted_shots} shots {X} "
    shape += f"{sizes.persisted_qubits} qubits"
    rows = [
        Row(
            "6",
            f"Persisted fetch result, {shape}, uniformly random bits: MB on disk",
            "—",
            _persisted_size(ours),
            _persisted_size(inc) if has_inc else "not run",
            f"{ours_bytes / inc_bytes:.2f}{X}" if ours_bytes and inc_bytes else "n/a",
            "≤ 1.5 MB",
            verdict(None if ours_bytes is None else ours_bytes <= 1.5e6),
        ),
        Row(
            "6",
            "Persisted result: load time in a fresh process (ms)",
            "—",
            _persisted_load(ours),
            _persisted_load(inc) if has_inc else "not run",
            "n/a" if ours_ms is None or inc_ms is None else f"{ours_ms / inc_ms:.2f}{X}",
            "≤ 50 ms",
            verdict(None if ours_ms is None else ours_ms <= 50),
        ),
        Row(
            "6",
            "Persisted result: loads under another qiskit major version",
            "—",
            ours_cross,
            inc_cross,
            "—",
            "yes",
            verdict(ours_ok),
        ),
    ]
    loads = {i: data.get(i, {}).get("load", {}) for i in libs}
    return rows, {
        "load_ms": {i: e.get("seconds", []) if e.get("ok") else [] for i, e in loads.items()}
    }


# ----------------------------------------------------------------------- 7: duplicates


def _duplicate_cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "not run"
    text = f"{entry['live'] - 1} ({entry['created']} created, {entry['live']} live)"
    if entry["live"] == 0:
        text = "no job (flow failed)"
    if entry["errors"]:
        text += " — flow failed"
    return text


def _duplicates_left(data: dict[str, Any], impl: str) -> str:
    if impl not in data:
        return "n/a" if impl == "ours" else "not run"
    return str(sum(max(e["live"] - 1, 0) for e in data[impl].values()))


def duplicate_rows(data: dict[str, Any], libs: list[str]) -> list[Row]:
    """Workload 7: jobs beyond one per flow left after each fault scenario."""
    rows = []
    ours_ok = True
    for scenario, description in SCENARIOS.items():
        entry = data.get("ours", {}).get(scenario)
        inc = data.get("incumbent", {}).get(scenario) if "incumbent" in libs else None
        ok = None if entry is None else entry["live"] == 1 and not entry["errors"]
        ours_ok = ours_ok and bool(ok)
        inc_text = _duplicate_cell(inc) if "incumbent" in libs else "not run"
        rows.append(
            Row(
                "7",
                f"Duplicate jobs: {description}",
                "—",
                _duplicate_cell(entry),
                inc_text,
                "—",
                "0",
                verdict(ok),
            )
        )
    rows.append(
        Row(
            "7",
            "Duplicate jobs, whole fault matrix (jobs beyond one per flow that were left to run)",
            "—",
            _duplicates_left(data, "ours"),
            _duplicates_left(data, "incumbent") if "incumbent" in libs else "not run",
            "—",
            "0 (incumbent expected 2\u20133)",
            verdict(ours_ok if "ours" in data else None),
        )
    )
    return rows


# ----------------------------------------------------------------------- 9: imports


def _import_cell(runs: list[dict[str, Any]]) -> str:
    """The library's extra CPU ms over its process's bare imports, and its share of them."""
    extra, bare = [r["library_cpu"] for r in runs], [r["bare_cpu"] for r in runs]
    share = 100 * med(extra) / med(bare)
    modules = max(r["library_modules"] for r in runs)
    watched = sorted({name for r in runs for name in r["watched"]})
    text = f"+{spread(extra, 1000)} = {share:.1f} % of bare; {modules} modules"
    return text + (f"; loaded {', '.join(watched)}!" if watched else "")


def import_rows(data: dict[str, Any], libs: list[str]) -> list[Row]:
    """Workload 9: CPU time of the library's imports on top of Prefect + qiskit-ibm-runtime."""
    by = {impl: [r for r in data["runs"] if r["impl"] == impl] for impl in libs}
    ours, inc = by.get("ours", []), by.get("incumbent", [])

    def cell(impl: str, runs: list[dict[str, Any]]) -> str:
        if impl not in libs:
            return "not run"
        return _import_cell(runs) if runs else "failed"

    bare = [r["bare_cpu"] for r in ours]
    ok = None
    if ours:
        ok = med([r["library_cpu"] for r in ours]) <= 0.1 * med(bare)
        ok = ok and not any(r["watched"] for r in ours)
    extras = {i: med([r["library_cpu"] for r in runs]) for i, runs in by.items() if runs}
    both = "ours" in extras and "incumbent" in extras and extras["incumbent"] > 0
    return [
        Row(
            "9",
            "Import time of the library on top of Prefect + qiskit-ibm-runtime "
            "(CPU ms, fresh process, bytecode cached)",
            f"bare imports {spread(bare, 1000)}" if bare else "n/a",
            cell("ours", ours),
            cell("incumbent", inc),
            f"{extras['ours'] / extras['incumbent']:.2f}{X}" if both else "n/a",
            "adds ≤ 10 % of bare; no asyncpg, no emulator",
            verdict(ok),
        )
    ]
