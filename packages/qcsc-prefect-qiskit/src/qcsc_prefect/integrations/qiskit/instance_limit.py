"""The instance's own usage limit: read once per flow run, at most once a minute per process.

``service.usage()`` says whether the instance has reached its limit; a job posted then waits,
unrun, until time is made available, while the flow waits on it. Before a post, the instance's
usage is read unless this process read it less than `READ_INTERVAL` seconds ago or this flow run
has read it already; the answer is reused otherwise. With the limit reached the post is refused
(`UsageLimitReachedError`) unless ``QiskitRuntimeConfig.submit_when_usage_limit_reached`` is set.
A usage call that fails never blocks a submission: it is logged and the post goes on.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from . import _state
from .errors import QCSCQiskitError, UsageLimitReachedError

if TYPE_CHECKING:
    from ._logging import Logger
    from ._runtime.usage_calls import InstanceUsage
    from .blocks import QiskitRuntimeConfig

#: Seconds during which a process reuses its last reading of an instance's usage.
READ_INTERVAL: Final = 60.0

#: How many flow runs (and service connections) one process remembers as having read the usage.
MEMORY: Final = 1_000

_readings: OrderedDict[int, tuple[float, InstanceUsage | None]] = OrderedDict()
_flow_runs_read: OrderedDict[tuple[int, str], None] = OrderedDict()
_guard = threading.Lock()
_state.register_dict(
    "instance_limit._readings",
    _readings,
    _guard,
    holds="the last reading of the instance's usage, by service connection",
    bound=f"{MEMORY:,} service connections, oldest dropped first",
)
_state.register_dict(
    "instance_limit._flow_runs_read",
    _flow_runs_read,
    _guard,
    holds="the flow runs that have read the instance's usage, by service connection",
    bound=f"{MEMORY:,} flow runs, oldest dropped first",
)


def clear_readings() -> None:
    """Forget every reading (the next submission reads the usage again)."""
    with _guard:
        _readings.clear()
        _flow_runs_read.clear()


def _reusable(key: int, flow_run_id: str | None) -> tuple[bool, InstanceUsage | None]:
    with _guard:
        reading = _readings.get(key)
        if reading is None:
            return False, None
        fresh = time.monotonic() - reading[0] < READ_INTERVAL
        return fresh or (key, flow_run_id or "") in _flow_runs_read, reading[1]


def _remember(key: int, flow_run_id: str | None, usage: InstanceUsage | None) -> None:
    with _guard:
        _readings[key] = (time.monotonic(), usage)
        _readings.move_to_end(key)
        _flow_runs_read[(key, flow_run_id or "")] = None
        for table in (_readings, _flow_runs_read):
            while len(table) > MEMORY:
                table.popitem(last=False)


def instance_usage(service: Any, flow_run_id: str | None, logger: Logger) -> InstanceUsage | None:
    """The instance's usage, read or reused (blocking); ``None`` when the service did not say."""
    from ._runtime.usage_calls import read_instance_usage  # deferred: the seam imports the client

    key = id(service)
    reuse, usage = _reusable(key, flow_run_id)
    if reuse:
        return usage
    try:
        usage = read_instance_usage(service)
    except QCSCQiskitError as exc:
        logger.warning("Could not read the instance's usage (%s); submitting anyway.", exc)
        usage = None
    _remember(key, flow_run_id, usage)
    return usage


def check_instance_limit(
    config: QiskitRuntimeConfig, usage: InstanceUsage | None, logger: Logger
) -> None:
    """Refuse to post when the instance has reached its limit, unless told to submit anyway.

    Raises:
        UsageLimitReachedError: The limit is reached and ``submit_when_usage_limit_reached`` is
            not set.
    """
    if usage is None or not usage.limit_reached:
        return
    figures = f"consumed {usage.consumed_seconds} s of its limit of {usage.limit_seconds} s"
    if config.submit_when_usage_limit_reached:
        logger.warning(
            "The instance has reached its usage limit (%s); submitting anyway "
            "(submit_when_usage_limit_reached=True): the job waits until time is made available.",
            figures,
        )
        return
    raise UsageLimitReachedError(
        f"the instance has reached its usage limit ({figures}); a new job would not run until "
        "time is made available, so nothing was submitted. Raise the instance's limit, or set "
        "QiskitRuntimeConfig.submit_when_usage_limit_reached=True to submit anyway.",
        limit_seconds=usage.limit_seconds,
        consumed_seconds=usage.consumed_seconds,
    )


__all__ = ["READ_INTERVAL", "check_instance_limit", "clear_readings", "instance_usage"]
