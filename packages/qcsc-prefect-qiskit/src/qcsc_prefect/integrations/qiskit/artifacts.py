"""Prefect artifacts describing a finished primitive job.

Two artifacts per job, both created after the result is in hand:

* ``artifact_key``: a Markdown summary (job id, backend, primitive, shots or precision,
  status, timings, usage);
* ``f"{artifact_key}-pubs"``: a table with one row per pub (sampler: the most frequent
  outcomes of each classical register; estimator: expectation values with standard
  deviations).

Creating artifacts must never cost the result: every failure is logged as a warning and
swallowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from qiskit.primitives import BitArray

from ._logging import run_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterator

    from .jobs import FetchOutput

#: Outcomes listed per classical register in the pub table.
TOP_COUNTS: Final = 5
#: Expectation values listed per pub in the pub table (array-shaped pubs are truncated).
MAX_VALUES: Final = 8
#: Suffix of the per-pub table's key.
PUBS_KEY_SUFFIX: Final = "-pubs"


async def acreate_result_artifacts(output: FetchOutput, artifact_key: str | None) -> None:
    """Create the job summary and per-pub table artifacts for ``output``.

    Args:
        output: The task output holding the native result.
        artifact_key: Key of the summary; the table gets ``f"{artifact_key}-pubs"``. ``None``
            creates nothing.

    Failures (an invalid key, an unreachable Prefect API, an unexpected result shape) are
    logged as warnings and never raised.
    """
    if artifact_key is None:
        return
    try:
        summary = summary_markdown(output)
        rows = pub_rows(output)
    except Exception as exc:
        run_logger().warning(
            "Could not describe job %s for artifact '%s': %s", output["job_id"], artifact_key, exc
        )
        return
    job_id = output["job_id"]
    await _attempt(
        acreate_markdown_artifact(
            markdown=summary, key=artifact_key, description=f"Qiskit job {job_id}"
        ),
        key=artifact_key,
        job_id=job_id,
    )
    table_key = f"{artifact_key}{PUBS_KEY_SUFFIX}"
    await _attempt(
        acreate_table_artifact(
            table=rows, key=table_key, description=f"Per-pub results of Qiskit job {job_id}"
        ),
        key=table_key,
        job_id=job_id,
    )


async def _attempt(creation: Awaitable[object], *, key: str, job_id: str) -> None:
    try:
        await creation
    except Exception as exc:
        run_logger().warning(
            "Could not create artifact '%s' for job %s (the result is unaffected): %s",
            key,
            job_id,
            exc,
        )


def summary_markdown(output: FetchOutput) -> str:
    """Render the job summary of ``output`` as Markdown."""
    metadata = output["metadata"]
    timings = metadata.get("timings")
    timings = timings if isinstance(timings, dict) else {}
    usage = metadata.get("usage")
    if output["primitive"] == "sampler":
        setting = ("Shots", _or_default(metadata.get("shots")))
    else:
        setting = ("Precision", _or_default(metadata.get("precision")))
    rows = [
        ("Job ID", f"`{output['job_id']}`"),
        ("Backend", output["backend_name"]),
        ("Primitive", output["primitive"]),
        setting,
        ("Pubs", str(metadata.get("num_pubs", len(output["result"])))),
        ("Status", output["status"]),
        ("Mode", str(metadata.get("mode", ""))),
        ("Submitted", _or_dash(timings.get("submitted"))),
        ("Started", _or_dash(timings.get("started"))),
        ("Finished", _or_dash(timings.get("finished"))),
        ("Wall time", _seconds(timings.get("wall_seconds"))),
        ("Usage", _usage(usage)),
    ]
    lines = [f"# Qiskit {output['primitive']} job", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"


def pub_rows(output: FetchOutput) -> list[dict[str, Any]]:
    """One table row per pub: top counts per register (sampler) or evs ± stds (estimator)."""
    if output["primitive"] == "sampler":
        return [
            {
                "pub": index,
                "register": name,
                "shots": bits.num_shots,
                "top_counts": _top_counts(bits),
            }
            for index, pub_result in enumerate(output["result"])
            for name, bits in _registers(pub_result.data)
        ]
    rows = []
    for index, pub_result in enumerate(output["result"]):
        evs = np.asarray(pub_result.data.evs, dtype=float)
        stds = np.asarray(pub_result.data.stds, dtype=float)
        flat_evs, flat_stds = evs.ravel(), np.broadcast_to(stds, evs.shape).ravel()
        shown = [
            f"{ev:.6g} ± {sd:.3g}"
            for ev, sd in zip(flat_evs[:MAX_VALUES], flat_stds[:MAX_VALUES], strict=True)
        ]
        if flat_evs.size > MAX_VALUES:
            shown.append(f"… ({flat_evs.size - MAX_VALUES} more)")
        rows.append({"pub": index, "shape": str(evs.shape), "evs_pm_stds": "; ".join(shown)})
    return rows


def _registers(data: Any) -> Iterator[tuple[str, BitArray]]:
    for name, value in data.items():
        if isinstance(value, BitArray):
            yield name, value


def _top_counts(bits: BitArray) -> str:
    counts = bits.get_counts()
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_COUNTS]
    text = ", ".join(f"{outcome}: {count}" for outcome, count in top)
    if len(counts) > TOP_COUNTS:
        text += f", … ({len(counts) - TOP_COUNTS} more outcomes)"
    return text


def _or_default(value: object) -> str:
    return "default" if value is None else str(value)


def _or_dash(value: object) -> str:
    return "—" if value is None else str(value)


def _seconds(value: object) -> str:
    return f"{value:.3f} s" if isinstance(value, (int, float)) else "—"


def _usage(usage: object) -> str:
    if not isinstance(usage, dict) or not usage:
        return "not reported"
    return ", ".join(f"{key}={value}" for key, value in sorted(usage.items()))


__all__ = ["PUBS_KEY_SUFFIX", "acreate_result_artifacts", "pub_rows", "summary_markdown"]
