"""The results page: Markdown table, raw JSON, chart of the timing rows, docs update."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import statistics
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import DOCS_PAGE, ROOT, SERVICE_LATENCY, log

if TYPE_CHECKING:
    from .rows import Row

DOCS_BEGIN = "<!-- bench:begin -->"
DOCS_END = "<!-- bench:end -->"
COLORS = {"ours": "#1f77b4", "incumbent": "#d62728", "native": "#7f7f7f"}


def table(rows: list[Row]) -> str:
    """The rows as one Markdown table."""
    header = (
        "| # | Figure | Native Qiskit | Ours | Incumbent 0.3.0 | Ours vs incumbent "
        "| Target (ours) | Met |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r.number, r.figure, r.native, r.ours, r.incumbent, r.ratio, r.target, r.met]
        lines.append(
            "| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |"
        )
    return "\n".join(lines)


def _first_field(path: str, prefix: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return None


def machine() -> str:
    """CPU, memory, load and the versions that matter, in one sentence."""
    cpu = _first_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    memory = ""
    with contextlib.suppress(ValueError, IndexError):
        kib = int((_first_field("/proc/meminfo", "MemTotal") or "").split()[0])
        memory = f", {kib / 1e6:.1f} GB RAM"
    load = ""
    with contextlib.suppress(OSError, AttributeError):
        load = f", load average {os.getloadavg()[0]:.1f} at the end"
    versions = []
    for name in ("prefect", "qiskit", "qiskit-ibm-runtime", "qiskit-aer"):
        with contextlib.suppress(PackageNotFoundError):
            versions.append(f"{name} {version(name)}")
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs{memory}{load}; "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )


#: One chart panel: title, groups of {impl: values}, scale and whether the axis is logarithmic.
Panel = tuple[str, dict[str, dict[str, list[float]]], float, bool]


def _panels(series: dict[str, Any]) -> list[Panel]:
    def ms(values: dict[str, list[float]]) -> dict[str, list[float]]:
        return {k: [v * 1000 for v in vals] for k, vals in values.items()}

    return [
        ("Per-task overhead over a plain @task (ms)", series.get("overhead", {}), 1000, False),
        ("Input digest (ms, log scale)", {"100 pubs": series.get("digest", {})}, 1000, True),
        (
            "100 jobs in flight: flow wall time (s)",
            {"wall": series.get("in_flight_wall", {})},
            1,
            False,
        ),
        (
            "Cached 20-job rerun: flow wall; persisted result: load (ms)",
            {
                "cached rerun (ms)": ms(series.get("cached_wall", {})),
                "load result (ms)": ms(series.get("load_ms", {})),
            },
            1,
            False,
        ),
    ]


def _draw(ax: Any, panel: Panel, libs: list[str]) -> None:
    title, groups, scale, log_scale = panel
    names = list(groups)
    impls = [i for i in ["native", *libs] if any(i in groups[g] for g in names)]
    width = 0.8 / max(len(impls), 1)
    for k, impl in enumerate(impls):
        xs, heights, low, high = [], [], [], []
        for j, group in enumerate(names):
            values = [v * scale for v in groups[group].get(impl, [])]
            if not values:
                continue
            middle = statistics.median(values)
            xs.append(j + (k - (len(impls) - 1) / 2) * width)
            heights.append(middle)
            low.append(middle - min(values))
            high.append(max(values) - middle)
        if xs:
            ax.bar(xs, heights, width, yerr=[low, high], capsize=3, label=impl, color=COLORS[impl])
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_title(title, fontsize=10)
    if log_scale:
        ax.set_yscale("log")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)


def chart(path: Path, series: dict[str, Any], libs: list[str]) -> str:
    """Draw the timing rows into ``path`` (PNG); say where, or why it was skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed in this venv (pip install matplotlib)"
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for ax, panel in zip(axes.flat, _panels(series), strict=True):
        _draw(ax, panel, libs)
    fig.suptitle("qcsc-prefect-qiskit benchmarks (median, bars = min\u2013max)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"chart written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"


def update_docs(markdown: str) -> None:
    """Replace the table between the bench markers of ``docs/performance.md``."""
    text = DOCS_PAGE.read_text() if DOCS_PAGE.exists() else ""
    if DOCS_BEGIN in text and DOCS_END in text:
        head, rest = text.split(DOCS_BEGIN, 1)
        _, tail = rest.split(DOCS_END, 1)
        DOCS_PAGE.write_text(f"{head}{DOCS_BEGIN}\n{markdown}\n{DOCS_END}{tail}")
    else:
        log(f"{DOCS_PAGE.relative_to(ROOT)} has no bench markers; not updated")


def page(rows: list[Row], notes: list[str], *, quick: bool, total: float, setup: float) -> str:
    """The whole results page in Markdown."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick (tiny sizes; not representative)" if quick else "full"
    lines = [
        f"# Benchmark results ({mode})",
        "",
        f"Run {stamp}; total {total / 60:.1f} min (venv set-up {setup:.0f} s).",
        f"Machine: {machine()}.",
        "",
        "Cells: median [min\u2013max] over repetitions, each in a fresh process, all against one "
        f"emulator (`--noise none`, {SERVICE_LATENCY * 1000:.0f} ms per request) and one Prefect "
        "server. Overhead = library task \u2212 plain `@task` around the native call on a reused "
        "backend, paired within a round.",
        "",
        table(rows),
    ]
    if notes:
        lines += ["", "Notes:", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def write(
    out: Path, markdown: str, raw: dict[str, Any], series: dict[str, Any], libs: list[str]
) -> None:
    """Write ``latest.md``, ``latest.json`` and ``latest.png`` to ``out``; print the page."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(markdown)
    (out / "latest.json").write_text(json.dumps(raw, indent=1, default=str))
    chart_note = chart(out / "latest.png", series, libs)
    print()
    print(markdown)
    print(chart_note)
