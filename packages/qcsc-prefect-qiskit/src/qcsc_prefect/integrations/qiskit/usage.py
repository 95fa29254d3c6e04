"""Usage accounting: one table artifact per flow run, updated as its jobs finish.

Every job a flow run fetches (robust mode) or runs (simple mode, and the wrappers) adds one row to
the flow run's ``qiskit-usage-<flow run id>`` table artifact: job id, primitive, backend,
execution mode, whether the job was new, adopted (``reused``) or restored from Prefect's cache
(``cached``, submitted by an earlier flow run), queue time, QPU seconds as the service reports
them, shots or precision, and status. A job the flow run fetches again (two submit calls that
share one job, a retried fetch) keeps its one row, so its seconds count once. A Batch or Session
the flow run opened adds one more row when the flow run closes it: the usage the service reports
for the Batch/Session itself (what IBM bills a Session by). The totals row comes last. Each
update publishes a new version of the artifact under the same key, so the latest version is
always the whole table.

Rows are kept per flow run in a bounded, per-process table (`MEMORY` flow runs).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from prefect.artifacts import acreate_table_artifact
from prefect.context import FlowRunContext

from . import _state

if TYPE_CHECKING:
    from ._logging import Logger
    from ._runtime.usage_calls import InstanceUsage
    from .budget import BudgetStatus
    from .jobs import JobReference

#: How many flow runs' tables one process keeps (oldest forgotten first).
MEMORY: Final = 1_000

#: How the ``job_id`` cell of a Batch/Session row starts: ``"BATCH "`` or ``"SESSION "``.
SESSION_ROW_PREFIXES: Final = ("BATCH ", "SESSION ")

#: The ``job_id`` cells of the cost-guard rows (`record_guard_rows`), in table order.
GUARD_ROW_IDS: Final = ("BUDGET", "INSTANCE")


@dataclass(frozen=True)
class UsageRow:
    """One finished job, as shown in the usage table."""

    job_id: str
    primitive: str
    backend: str
    mode: str
    origin: str
    queue_seconds: float | None
    qpu_seconds: float | None
    shots_or_precision: str
    status: str


#: The table's columns: `UsageRow`'s fields, in order.
_COLUMNS: Final = tuple(column.name for column in fields(UsageRow))


@dataclass
class _Table:
    """One flow run's rows, and whether a publisher is writing the artifact right now."""

    rows: list[UsageRow] = field(default_factory=list)
    sessions: list[UsageRow] = field(default_factory=list)
    guards: dict[str, UsageRow] = field(default_factory=dict)
    publishing: bool = False
    dirty: bool = False


_tables: dict[str, _Table] = {}
_tables_guard = threading.Lock()

_state.register_dict(
    "usage._tables",
    _tables,
    _tables_guard,
    holds="the usage rows of each flow run",
    bound=f"{MEMORY:,} flow runs, oldest dropped first",
)


def usage_artifact_key(flow_run_id: str) -> str:
    """The artifact key of a flow run's usage table."""
    return f"qiskit-usage-{flow_run_id}"


def job_origin(reference: JobReference | None, flow_run_id: str) -> str:
    """``new``, ``reused`` (adopted by tag) or ``cached`` (from an earlier flow run)."""
    if reference is None:
        return "new"
    if reference.flow_run_id is not None and reference.flow_run_id != flow_run_id:
        return "cached"
    return "reused" if reference.reused else "new"


def queue_seconds(created: object, started: object) -> float | None:
    """Seconds between a job's creation and the start of its execution, if both are known."""
    begin, end = _as_datetime(created), _as_datetime(started)
    if begin is None or end is None:
        return None
    if (begin.tzinfo is None) != (end.tzinfo is None):
        begin, end = begin.replace(tzinfo=None), end.replace(tzinfo=None)
    return max((end - begin).total_seconds(), 0.0)


def usage_row(
    job: Any,
    *,
    primitive: str,
    backend_name: str,
    report: Any,
    shots: int | None,
    precision: float | None,
    status: str,
    reference: JobReference | None,
    mode: str,
) -> UsageRow:
    """Build the usage row of a finished ``job`` from its service report (``_runtime.native``)."""
    usage = report.usage or {}
    qpu = usage.get("quantum_seconds")
    flow_run_id = current_flow_run_id() or ""
    return UsageRow(
        job_id=str(job.job_id()),
        primitive=primitive,
        backend=backend_name,
        mode=mode,
        origin=job_origin(reference, flow_run_id),
        queue_seconds=queue_seconds(report.created, report.started),
        qpu_seconds=float(qpu) if isinstance(qpu, (int, float)) else None,
        shots_or_precision=_shots_or_precision(shots, precision),
        status=status,
    )


def _shots_or_precision(shots: int | None, precision: float | None) -> str:
    if shots is not None:
        return f"shots={shots}"
    return f"precision={precision}" if precision is not None else "default"


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def session_usage_row(
    session_id: str, *, mode: str, backend_name: str, seconds: float | None
) -> UsageRow:
    """The row of a Batch/Session the flow run closed: the usage the service reports for it."""
    return UsageRow(
        job_id=f"{mode.upper()} {session_id}",
        primitive="",
        backend=backend_name,
        mode=mode,
        origin="",
        queue_seconds=None,
        qpu_seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
        shots_or_precision="",
        status="closed",
    )


def _guard_row(job_id: str, seconds: float | None, limit: str, left: str) -> UsageRow:
    return UsageRow(job_id, "", "", "", "", None, seconds, limit, left)


def _seconds_text(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g} s"


def record_guard_rows(
    flow_run_id: str, *, instance: InstanceUsage | None = None, budget: BudgetStatus | None = None
) -> None:
    """Keep the latest cost-guard figures for ``flow_run_id``'s table (published with its rows).

    The ``BUDGET`` row shows the committed seconds, the budget and what is left; the
    ``INSTANCE`` row the instance's consumed seconds, its limit and what remains.
    """
    rows: dict[str, UsageRow] = {}
    if instance is not None:
        rows[GUARD_ROW_IDS[1]] = _guard_row(
            GUARD_ROW_IDS[1], instance.consumed_seconds,
            f"limit={_seconds_text(instance.limit_seconds)}",
            f"remaining={_seconds_text(instance.remaining_seconds)}",
        )  # fmt: skip
    if budget is not None:
        rows[GUARD_ROW_IDS[0]] = _guard_row(
            GUARD_ROW_IDS[0], budget.committed_seconds,
            f"budget={budget.budget_seconds:g} s", f"left={budget.left_seconds:g} s",
        )  # fmt: skip
    with _tables_guard:
        _tables.setdefault(flow_run_id, _Table()).guards.update(rows)


def _table(
    rows: list[UsageRow], sessions: list[UsageRow], guards: list[UsageRow] | None = None
) -> list[dict[str, Any]]:
    # Shallow cells: every field is a scalar, and `asdict` (a deep copy) cost most of a
    # thousand-row table's write.
    table = [
        {name: getattr(row, name) for name in _COLUMNS}
        for row in [*rows, *sessions, *(guards or [])]
    ]
    qpu = [row.qpu_seconds for row in rows if row.qpu_seconds is not None]
    queued = [row.queue_seconds for row in rows if row.queue_seconds is not None]
    table.append(
        {
            "job_id": f"TOTAL ({len(rows)} jobs)",
            "primitive": "",
            "backend": "",
            "mode": "",
            "origin": ", ".join(
                f"{sum(r.origin == o for r in rows)} {o}" for o in ("new", "reused", "cached")
            ),
            "queue_seconds": round(sum(queued), 3) if queued else None,
            "qpu_seconds": round(sum(qpu), 3) if qpu else None,
            "shots_or_precision": "",
            "status": ", ".join(
                f"{sum(r.status == s for r in rows)} {s}" for s in sorted({r.status for r in rows})
            ),
        }
    )
    return table


def current_flow_run_id() -> str | None:
    """The running flow run's id, if any."""
    flow_ctx = FlowRunContext.get()
    flow_run = flow_ctx.flow_run if flow_ctx is not None else None
    return str(flow_run.id) if flow_run is not None else None


async def arecord_usage(row: UsageRow, logger: Logger) -> None:
    """Add ``row`` to the running flow run's usage table and publish the table.

    Outside a flow run nothing is recorded. Failures are logged, never raised: accounting must
    not cost a result.
    """
    flow_run_id = current_flow_run_id()
    if flow_run_id is None:
        return
    await _add(flow_run_id, row, logger, session=False)


async def arecord_session_usage(flow_run_id: str, row: UsageRow, logger: Logger) -> None:
    """Add a Batch/Session row (`session_usage_row`) to ``flow_run_id``'s usage table.

    Called when the flow run closes what it opened. Failures are logged, never raised.
    """
    await _add(flow_run_id, row, logger, session=True)


def _put(rows: list[UsageRow], row: UsageRow) -> None:
    """Add ``row``, or update the row its job already has (keeping that row's origin)."""
    for index, known in enumerate(rows):
        if known.job_id == row.job_id:
            rows[index] = replace(row, origin=known.origin)
            return
    rows.append(row)


async def _add(flow_run_id: str, row: UsageRow, logger: Logger, *, session: bool) -> None:
    with _tables_guard:
        table = _tables.setdefault(flow_run_id, _Table())
        _put(table.sessions if session else table.rows, row)
        table.dirty = True
        if table.publishing:
            return  # the running publisher writes this row too, before it stops
        table.publishing = True
        while len(_tables) > MEMORY:
            del _tables[next(iter(_tables))]
    await _publish_until_clean(flow_run_id, table, logger)


async def apublish_usage_table(flow_run_id: str, logger: Logger) -> None:
    """Publish ``flow_run_id``'s table now, for guard rows that changed with no job finishing.

    Failures are logged, never raised.
    """
    with _tables_guard:
        table = _tables.setdefault(flow_run_id, _Table())
        table.dirty = True
        if table.publishing:
            return
        table.publishing = True
    await _publish_until_clean(flow_run_id, table, logger)


async def _publish_until_clean(flow_run_id: str, table: _Table, logger: Logger) -> None:
    """Write the table until no row arrived during the last write (one writer per flow run).

    Jobs that finish while a write is in flight are written together by the next one, so a
    thousand finishing jobs cause a handful of writes, not a thousand growing ones.
    """
    while True:
        with _tables_guard:
            if not table.dirty:
                table.publishing = False
                return
            table.dirty = False
            snapshot, sessions = list(table.rows), list(table.sessions)
            guards = [table.guards[key] for key in GUARD_ROW_IDS if key in table.guards]
        try:
            await acreate_table_artifact(
                table=_table(snapshot, sessions, guards),
                key=usage_artifact_key(flow_run_id),
                description="Qiskit Runtime usage of this flow run: one row per finished job, "
                "one per Batch/Session it closed (the service's usage of it), the cost guards "
                "(BUDGET: committed, budget, left; INSTANCE: consumed, limit, remaining), then "
                "the totals.",
            )
        except Exception as exc:
            logger.warning("Could not update the usage table artifact: %s", exc)
        except BaseException:
            with _tables_guard:  # cancelled: let the next finishing job take over the writing
                table.publishing = False
                table.dirty = True
            raise


__all__ = [
    "GUARD_ROW_IDS",
    "SESSION_ROW_PREFIXES",
    "UsageRow",
    "apublish_usage_table",
    "arecord_session_usage",
    "arecord_usage",
    "current_flow_run_id",
    "job_origin",
    "queue_seconds",
    "record_guard_rows",
    "session_usage_row",
    "usage_artifact_key",
    "usage_row",
]
