"""The cost guards around one post: the instance's limit, then the flow run's QPU budget.

`guarded_post` is entered right before a job is posted (simple and robust mode, V2 and executor,
inside a Batch or Session alike) and held until the post returns. The post carries the job tags
of `post_tags` (the flow run's tag when a budget is set). Adopted and cached jobs are never
posted, so they never pass here.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

from ._runtime.pool import call_blocking, call_blocking_bounded
from .budget import flow_run_lock, flow_run_tag, read_budget_status, refuse_when_spent
from .errors import RuntimeApiError
from .instance_limit import check_instance_limit, instance_usage
from .usage import apublish_usage_table, current_flow_run_id, record_guard_rows

if TYPE_CHECKING:
    import threading
    from collections.abc import AsyncIterator

    from ._logging import Logger
    from ._runtime.usage_calls import InstanceUsage
    from .blocks import QiskitRuntimeConfig

#: Seconds between attempts at the flow run's budget lock.
LOCK_POLL: Final = 0.02
#: Seconds the guard waits for the instance's usage before it submits without it.
USAGE_READ_TIMEOUT: Final = 30.0


async def _acquire(lock: threading.Lock) -> None:
    while not lock.acquire(blocking=False):
        await asyncio.sleep(LOCK_POLL)


def post_tags(config: QiskitRuntimeConfig) -> list[str]:
    """The job tags a post adds for the guards: the flow run's tag when a budget is set."""
    flow_run_id = current_flow_run_id()
    if config.qpu_budget_seconds is None or flow_run_id is None or config.channel == "local":
        return []
    return [flow_run_tag(flow_run_id)]


async def _read_instance_usage(
    service: Any, flow_run_id: str | None, logger: Logger
) -> InstanceUsage | None:
    """The instance's usage, or ``None`` when it does not come within `USAGE_READ_TIMEOUT`."""
    try:
        return await call_blocking_bounded(
            USAGE_READ_TIMEOUT,
            "the instance-usage read",
            instance_usage,
            service,
            flow_run_id,
            logger,
        )
    except RuntimeApiError as exc:  # the bound: never block a submission on the usage read
        logger.warning("Could not read the instance's usage (%s); submitting anyway.", exc)
        return None


@asynccontextmanager
async def guarded_post(
    config: QiskitRuntimeConfig, service: Any, logger: Logger
) -> AsyncIterator[None]:
    """Check the guards before a post, and hold the flow run's budget lock until it returns.

    The post must carry the tags of `post_tags`.

    Raises:
        UsageLimitReachedError: The instance's limit is reached (and not overridden).
        QpuBudgetExceededError: The flow run has committed its budget.
    """
    if config.channel == "local":
        yield
        return
    flow_run_id = current_flow_run_id()
    usage = await _read_instance_usage(service, flow_run_id, logger)
    if flow_run_id is not None:
        record_guard_rows(flow_run_id, instance=usage)
    check_instance_limit(config, usage, logger)
    budget = config.qpu_budget_seconds
    if budget is None or flow_run_id is None:
        yield
        return
    lock = flow_run_lock(flow_run_id)
    await _acquire(lock)
    try:
        status = await call_blocking(read_budget_status, service, budget, flow_run_id)
        record_guard_rows(flow_run_id, budget=status)
        if status.committed_seconds >= budget:
            await apublish_usage_table(flow_run_id, logger)  # the table shows what stopped it
        refuse_when_spent(status, flow_run_id)
        yield
    finally:
        lock.release()


__all__ = ["guarded_post", "post_tags"]
