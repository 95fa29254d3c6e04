"""The identity of a robust submission: what makes two submit calls "the same job".

With an input digest the identity is the digest (any flow run, any host, same inputs: same job).
Without one it is the *run identity*: the flow run, the inputs, and how many identical
submissions this attempt of the flow run made before. That is stable across task retries (the
same task run) and flow retries (Prefect gives the retried calls new task-run ids, but the
same flow run and the same call order), and new for every new flow run.

Counting "how many identical submissions before" needs memory, and Prefect asks for the cache key
(in the task's cache-key function) before the task body runs; both must see the same identity
for the same task run. `RUN_IDENTITIES` is that memory: a documented, bounded, per-process table
that the default cache-key functions and the submit step both read through `run_identity`.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from prefect.context import FlowRunContext, TaskRunContext
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE

from .blocks import QiskitRuntimeConfig
from .cache import idempotency_tag
from .digests import build_qiskit_estimator_input_digest, build_qiskit_sampler_input_digest
from .errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from uuid import UUID

    from .jobs import PrimitiveName

#: How many task runs and flow-run attempts one process remembers (oldest forgotten first). A
#: forgotten entry only matters for a retry of a run older than the last 10,000 submissions.
MEMORY: Final = 10_000


@dataclass(frozen=True)
class SubmissionIdentity:
    """Who a submission is, for locking and job lookup.

    Attributes:
        key: The idempotency key (the digest, or the run identity).
        tag: The job tag derived from it (``[a-z0-9-]``, carried by the job).
        earlier_attempt_possible: Whether an earlier attempt may already have posted the job
            (a digest, a task retry or a flow retry): the tag is looked up before posting.
    """

    key: str
    tag: str
    earlier_attempt_possible: bool

    @property
    def lock_key(self) -> str:
        """The submit lock's key."""
        return f"qcsc-qiskit-submit-{self.tag}"


class RunIdentities:
    """Bounded per-process memory of run identities, by task-run id (thread-safe)."""

    def __init__(self, memory: int = MEMORY) -> None:
        self._memory = memory
        self._by_task_run: dict[UUID, str] = {}
        self._occurrences: dict[tuple[UUID, int], Counter[str]] = {}
        self._guard = threading.Lock()

    def get_or_assign(self, task_run_id: UUID, flow_run_id: UUID, attempt: int, inputs: str) -> str:
        """Return the identity of ``task_run_id``, assigning the next occurrence if new."""
        with self._guard:
            known = self._by_task_run.get(task_run_id)
            if known is not None:
                return known
            counter = self._occurrences.setdefault((flow_run_id, attempt), Counter())
            occurrence = counter[inputs]
            counter[inputs] += 1
            identity = f"flow-run:{flow_run_id}:{inputs}:{occurrence}"
            self._by_task_run[task_run_id] = identity
            _forget_oldest(self._by_task_run, self._memory)
            _forget_oldest(self._occurrences, self._memory)
            return identity


def _forget_oldest(table: dict[Any, Any], memory: int) -> None:
    while len(table) > memory:
        del table[next(iter(table))]  # dicts keep insertion order: the first keys are oldest


#: The process's run identities (see the module docstring).
RUN_IDENTITIES: Final = RunIdentities()


def _inputs_digest(primitive: PrimitiveName, parameters: Mapping[str, Any]) -> str:
    """A digest of what one call submits (the flow run is added by the caller)."""
    config = parameters.get("runtime_config")
    backend_name = config.backend_name if isinstance(config, QiskitRuntimeConfig) else "?"
    pubs = parameters.get("pubs") or []
    options = parameters.get("options")
    try:
        if primitive == "sampler":
            return build_qiskit_sampler_input_digest(
                pubs, backend_name=backend_name, shots=parameters.get("shots"),
                cache_scope="global", options=options,
            )  # fmt: skip
        return build_qiskit_estimator_input_digest(
            pubs, backend_name=backend_name, precision=parameters.get("precision"),
            cache_scope="global", options=options,
        )  # fmt: skip
    except InvalidInputError:
        return "invalid-input"  # the submit step rejects it before anything is posted


def run_identity(primitive: PrimitiveName, parameters: Mapping[str, Any]) -> tuple[str, bool]:
    """Return the run identity of the running submit task, and whether it may repeat.

    The second value says whether an earlier attempt of the same submission may exist (a task
    or a flow retry).
    """
    task_ctx = TaskRunContext.get()
    if task_ctx is None:  # only for type narrowing: the submit tasks always have a context
        return f"{primitive}:adhoc:{uuid.uuid4()}", False
    task_run = task_ctx.task_run
    flow_ctx = FlowRunContext.get()
    flow_run = flow_ctx.flow_run if flow_ctx is not None else None
    attempt = flow_run.run_count if flow_run is not None else 0
    maybe_earlier = task_run.run_count > 1 or attempt > 1
    if task_run.flow_run_id is None:
        return f"{primitive}:task-run:{task_run.id}", maybe_earlier
    inputs = _inputs_digest(primitive, parameters)
    identity = RUN_IDENTITIES.get_or_assign(task_run.id, task_run.flow_run_id, attempt, inputs)
    return f"{primitive}:{identity}", maybe_earlier


def run_cache_key(primitive: PrimitiveName, parameters: Mapping[str, Any]) -> str:
    """The default submit cache key of a submission without digest."""
    identity, _ = run_identity(primitive, parameters)
    digest = hashlib.sha256(identity.encode()).hexdigest()
    return f"qcsc-qiskit-v1-{primitive}-submit-run-{digest}"


def _refresh_requested() -> bool:
    task_ctx = TaskRunContext.get()
    if task_ctx is None:
        return False
    return bool(task_ctx.task.refresh_cache) or bool(PREFECT_TASKS_REFRESH_CACHE.value())


def identify(
    primitive: PrimitiveName, input_digest: str | None, parameters: Mapping[str, Any]
) -> SubmissionIdentity:
    """Return the identity of the running submit task's submission."""
    if input_digest is None:
        key, maybe_earlier = run_identity(primitive, parameters)
    elif _refresh_requested():
        # The user asked Prefect to refresh the cache: a new flow run gets a new job, while
        # retries inside this flow run still reattach.
        flow_ctx = FlowRunContext.get()
        flow_run = flow_ctx.flow_run if flow_ctx is not None else None
        run = flow_run.id if flow_run is not None else uuid.uuid4()
        key, maybe_earlier = f"{input_digest}:refresh:{run}", True
    else:
        key, maybe_earlier = input_digest, True
    return SubmissionIdentity(
        key=key,
        tag=idempotency_tag(f"{primitive}-submit", key),
        earlier_attempt_possible=maybe_earlier,
    )


__all__ = [
    "RUN_IDENTITIES",
    "RunIdentities",
    "SubmissionIdentity",
    "identify",
    "run_cache_key",
    "run_identity",
]
