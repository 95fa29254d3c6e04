"""Read flow runs' usage tables back, and total them over several flow runs.

Every flow run that uses this library publishes a ``qiskit-usage-<flow run id>`` table artifact
(see `usage`). `read_usage_table` / `aread_usage_table` return its latest version split into job
rows, Batch/Session rows and the totals row; `total_usage` adds several of them up, counting each
job once however many flow runs reused it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from .usage import GUARD_ROW_IDS, SESSION_ROW_PREFIXES, usage_artifact_key

if TYPE_CHECKING:
    from collections.abc import Iterable
    from uuid import UUID


@dataclass(frozen=True)
class UsageTable:
    """One flow run's usage table, as the library last published it.

    Attributes:
        flow_run_id: The flow run the table belongs to.
        jobs: One row per job that finished in the flow run (columns as in the artifact:
            ``job_id``, ``primitive``, ``backend``, ``mode``, ``origin``, ``queue_seconds``,
            ``qpu_seconds``, ``shots_or_precision``, ``status``).
        sessions: One row per Batch/Session the flow run opened and closed; its ``qpu_seconds``
            is the usage the service reports for the Batch/Session itself, ``None`` when it
            reports none.
        totals: The totals row (jobs counted by origin and status, seconds summed over
            ``jobs``); empty when no job finished.
        guards: The cost-guard rows, when the guards read anything: ``BUDGET`` (``qpu_seconds``
            committed, ``shots_or_precision`` the budget, ``status`` what is left) and
            ``INSTANCE`` (``qpu_seconds`` consumed, then the limit and what remains).
    """

    flow_run_id: str
    jobs: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    guards: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class UsageTotals:
    """Usage added up over several flow runs' tables (`total_usage`).

    Attributes:
        flow_runs: How many tables were added up.
        jobs: Distinct jobs (by job id): a job reused or restored from the cache by several flow
            runs counts once.
        qpu_seconds: The service's per-job usage, summed over the distinct jobs that report it.
        session_seconds: The service's usage of the Sessions the flow runs opened, summed.
        billed_seconds: An estimate of what IBM bills: per-job usage of the jobs that ran
            outside a Session (job and Batch mode), plus the usage of each Session. A Session
            the flow runs did not open themselves (``session_id=`` on the configuration) has no
            row here; its jobs then count with their own seconds, which is less than the
            Session's.
    """

    flow_runs: int
    jobs: int
    qpu_seconds: float
    session_seconds: float
    billed_seconds: float


def _split(flow_run_id: str, rows: list[dict[str, Any]]) -> UsageTable:
    if not rows:
        return UsageTable(flow_run_id)
    *body, totals = rows
    sessions = [row for row in body if str(row.get("job_id", "")).startswith(SESSION_ROW_PREFIXES)]
    guards = [row for row in body if row.get("job_id") in GUARD_ROW_IDS]
    jobs = [row for row in body if row not in sessions and row not in guards]
    return UsageTable(flow_run_id, jobs, sessions, dict(totals), guards)


def _rows(data: Any) -> list[dict[str, Any]]:
    table = json.loads(data) if isinstance(data, str) else data
    return [dict(row) for row in table or []]


async def aread_usage_table(flow_run_id: UUID | str) -> UsageTable:
    """Read a flow run's usage table back from the Prefect API (async).

    Args:
        flow_run_id: The flow run's id, for example ``state.state_details.flow_run_id`` or
            ``prefect.runtime.flow_run.id`` inside the flow.

    Returns:
        The latest version of the flow run's table; an empty `UsageTable` when no job finished
        in it (no artifact was written).

    Example:
        ```python
        table = await aread_usage_table(flow_run_id)
        print(table.totals["qpu_seconds"])
        ```
    """
    key = usage_artifact_key(str(flow_run_id))
    async with get_client() as client:
        artifacts = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
        )
    rows = _rows(artifacts[0].data) if artifacts else []
    return _split(str(flow_run_id), rows)


def read_usage_table(flow_run_id: UUID | str) -> UsageTable:
    """Read a flow run's usage table back from the Prefect API (blocking).

    The synchronous form of `aread_usage_table`, for scripts and notebooks outside an event
    loop.

    Args:
        flow_run_id: The flow run's id.

    Returns:
        The latest version of the flow run's table; an empty `UsageTable` when no job finished
        in it.

    Example:
        ```python
        table = read_usage_table(flow_run_id)
        for row in table.jobs:
            print(row["job_id"], row["qpu_seconds"])
        ```
    """
    key = usage_artifact_key(str(flow_run_id))
    with get_client(sync_client=True) as client:
        artifacts = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
        )
    rows = _rows(artifacts[0].data) if artifacts else []
    return _split(str(flow_run_id), rows)


def _seconds(row: dict[str, Any]) -> float:
    value = row.get("qpu_seconds")
    return float(value) if isinstance(value, (int, float)) else 0.0


def total_usage(tables: Iterable[UsageTable]) -> UsageTotals:
    """Add several flow runs' usage tables up, counting each job once.

    A job that a later flow run reused or restored from Prefect's cache appears in that run's
    table too (origin ``reused`` or ``cached``); it was paid once and is counted once here.

    Args:
        tables: Tables from `read_usage_table` or `aread_usage_table`.

    Returns:
        The totals over ``tables``.

    Example:
        ```python
        totals = total_usage(read_usage_table(run_id) for run_id in flow_run_ids)
        print(totals.jobs, totals.billed_seconds)
        ```
    """
    tables = list(tables)
    jobs: dict[str, dict[str, Any]] = {}
    sessions: dict[str, dict[str, Any]] = {}
    in_own_session: set[str] = set()  # jobs whose Session has its own row
    for table in tables:
        has_session_row = any(row.get("mode") == "session" for row in table.sessions)
        for row in table.jobs:
            jobs.setdefault(str(row["job_id"]), row)
            if has_session_row and row.get("mode") == "session":
                in_own_session.add(str(row["job_id"]))
        for row in table.sessions:
            sessions.setdefault(str(row["job_id"]), row)
    session_seconds = sum(
        _seconds(row) for row in sessions.values() if row.get("mode") == "session"
    )
    outside = sum(_seconds(row) for job_id, row in jobs.items() if job_id not in in_own_session)
    return UsageTotals(
        flow_runs=len(tables),
        jobs=len(jobs),
        qpu_seconds=round(sum(_seconds(row) for row in jobs.values()), 3),
        session_seconds=round(session_seconds, 3),
        billed_seconds=round(outside + session_seconds, 3),
    )


__all__ = ["UsageTable", "UsageTotals", "aread_usage_table", "read_usage_table", "total_usage"]
