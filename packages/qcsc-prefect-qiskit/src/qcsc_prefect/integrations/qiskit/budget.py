"""The QPU budget of a flow run: what it has committed, read from the service's own job list.

With ``QiskitRuntimeConfig.qpu_budget_seconds`` set, every job a flow run posts carries the tag
``qcsc-flow-run:<flow run id>``. Before each post, the flow run's committed seconds are read from
the service: one job-list request for that tag (one more per 200 jobs). A finished job counts
with its measured usage, a queued or running one with the service's estimate, and a job with
neither with `SECONDS_WITHOUT_ESTIMATE`. Because the figure comes from the service, every process
of the flow run (Dask or Ray workers included) sees the jobs the others posted. Jobs adopted by
tag or restored from Prefect's cache were posted by an earlier flow run, carry its tag, and
never count again.

Within one process, the check and the post of one flow run's submissions happen one at a time
(`flow_run_lock`), so that threads cannot overshoot: once the committed total reaches the
budget, the next submission is refused. Processes of one flow run check without a shared lock:
each may post one job past the budget when they check at the same moment.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from . import _state
from .errors import QpuBudgetExceededError
from .jobs import TERMINAL_STATUSES

if TYPE_CHECKING:
    from ._runtime.usage_calls import JobUsage

#: The tag prefix that marks a job as posted by one flow run (when a budget is set).
FLOW_RUN_TAG_PREFIX: Final = "qcsc-flow-run:"

#: QPU seconds a job counts for when the service gives neither its usage nor an estimate.
SECONDS_WITHOUT_ESTIMATE: Final = 60.0

#: How many flow runs' locks one process keeps (oldest forgotten first).
MEMORY: Final = 1_000

_locks: OrderedDict[str, threading.Lock] = OrderedDict()
_locks_guard = threading.Lock()
_state.register_dict(
    "budget._locks",
    _locks,
    _locks_guard,
    holds="the lock over the budget check and the post of each flow run's submissions",
    bound=f"{MEMORY:,} flow runs, oldest dropped first",
)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A flow run's budget and what it has committed.

    Attributes:
        budget_seconds: The budget (``qpu_budget_seconds``).
        committed_seconds: Measured usage of finished jobs plus estimates of pending ones.
        jobs: How many of the flow run's jobs the service listed.
    """

    budget_seconds: float
    committed_seconds: float
    jobs: int

    @property
    def left_seconds(self) -> float:
        """Seconds of the budget not yet committed (0 at most)."""
        return max(self.budget_seconds - self.committed_seconds, 0.0)


def flow_run_tag(flow_run_id: str) -> str:
    """The job tag of the flow run's jobs."""
    return f"{FLOW_RUN_TAG_PREFIX}{flow_run_id}"


def flow_run_lock(flow_run_id: str) -> threading.Lock:
    """The process's lock over the check and the post of ``flow_run_id``'s submissions."""
    with _locks_guard:
        lock = _locks.setdefault(flow_run_id, threading.Lock())
        _locks.move_to_end(flow_run_id)
        while len(_locks) > MEMORY:
            _locks.popitem(last=False)
        return lock


def job_seconds(job: JobUsage) -> float:
    """What one job commits: its usage once finished, else the service's estimate."""
    if job.status in TERMINAL_STATUSES and job.usage_seconds is not None:
        return job.usage_seconds
    if job.estimate_seconds is not None:
        return job.estimate_seconds
    return 0.0 if job.status in TERMINAL_STATUSES else SECONDS_WITHOUT_ESTIMATE


def budget_status(jobs: list[JobUsage], budget_seconds: float) -> BudgetStatus:
    """The budget status of a flow run whose jobs the service listed as ``jobs``."""
    committed = round(sum(job_seconds(job) for job in jobs), 3)
    return BudgetStatus(budget_seconds, committed, len(jobs))


def read_budget_status(service: Any, budget_seconds: float, flow_run_id: str) -> BudgetStatus:
    """Read the flow run's committed seconds from the service (blocking; one request per 200 jobs).

    Raises:
        QCSCQiskitError: The job list could not be read.
    """
    from ._runtime.usage_calls import list_jobs_with_tag  # deferred: the seam imports the client

    return budget_status(list_jobs_with_tag(service, flow_run_tag(flow_run_id)), budget_seconds)


def refuse_when_spent(status: BudgetStatus, flow_run_id: str) -> None:
    """Refuse the next post once the committed total is at or above the budget.

    Raises:
        QpuBudgetExceededError: The budget is committed.
    """
    if status.committed_seconds < status.budget_seconds:
        return
    raise QpuBudgetExceededError(
        f"flow run {flow_run_id} has committed {status.committed_seconds:g} QPU seconds "
        f"({status.jobs} jobs) of its budget of {status.budget_seconds:g} s "
        "(QiskitRuntimeConfig.qpu_budget_seconds); nothing was submitted. Jobs already "
        "submitted keep running and are fetched normally. Raise qpu_budget_seconds, or set "
        "it to None for no budget, to submit more.",
        budget_seconds=status.budget_seconds,
        committed_seconds=status.committed_seconds,
    )


__all__ = [
    "FLOW_RUN_TAG_PREFIX",
    "SECONDS_WITHOUT_ESTIMATE",
    "BudgetStatus",
    "budget_status",
    "flow_run_lock",
    "flow_run_tag",
    "job_seconds",
    "read_budget_status",
    "refuse_when_spent",
]
