"""The identity of a robust submission: what makes two submit calls "the same job".

With an input digest the identity is the digest (any flow run, any host, same inputs: same job).
Without one it is the *call identity*: the flow run, the inputs, and how many identical
submissions this attempt of the flow run made before this one. That is stable across task
retries (the same task run carries it) and flow retries (the retried attempt makes the same calls
in the same order), and new for every new flow run. In a subflow, "the flow run" is the path to
it from its top-level flow run (`FlowScopes`): a parent's retry runs its subflows again as new
subflow runs, which must reuse the jobs of the first ones.

Only the flow's own process sees the order of the calls: task runners such as Dask or Ray run
the task in another process, where a counter would start from zero for every worker and merge
distinct calls. So the identity is given where the call is made, by `SubmitTask` (``.submit()``,
``.map()`` or a direct call), and travels to wherever the task runs as an attribute of the task
object the runner ships. `OCCURRENCES` counts calls per flow-run attempt in the calling process;
it is never consulted where the task runs. A task that arrives without an identity (called
inside another task on a remote worker) is refused before anything is posted.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext, TaskRunContext
from prefect.futures import PrefectFuture
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE
from prefect.utilities.collections import visit_collection

from . import _state
from .blocks import QiskitRuntimeConfig
from .cache import idempotency_tag
from .digests import (
    build_qiskit_estimator_input_digest,
    build_qiskit_sampler_input_digest,
    repeated_digest,
)
from .errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from uuid import UUID

    from prefect.client.schemas.objects import FlowRun

    from .jobs import PrimitiveName

#: How many flow-run attempts one process keeps counters for (oldest forgotten first). A
#: forgotten counter only matters for a flow run still making calls after 10,000 newer ones.
MEMORY: Final = 10_000

#: The attribute of a submit task object that carries its call identity to the worker.
CALL_IDENTITY_ATTRIBUTE: Final = "_qcsc_call_identity"

#: The inputs part of an identity whose inputs were still futures when the call was made.
_PENDING: Final = "pending"


@dataclass(frozen=True)
class SubmissionIdentity:
    """Who a submission is, for locking and job lookup.

    Attributes:
        key: The idempotency key (the digest, or the call identity).
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


@dataclass(frozen=True)
class CallIdentity:
    """The identity a submit call was given where it was made (see the module docstring).

    Attributes:
        flow_run_id: The scope of the flow run that made the call: its id, or for a subflow
            run the path to it from its top-level flow run (`FlowScopes`).
        inputs: The digest of the call's inputs, or ``None`` when they were futures then (the
            task computes it once they are resolved).
        occurrence: How many calls with the same inputs this flow-run attempt made before.
    """

    flow_run_id: str
    inputs: str | None
    occurrence: str

    def key(self, primitive: PrimitiveName, parameters: Mapping[str, Any]) -> str:
        """The identity string, with the inputs digested now if they were futures before."""
        inputs = self.inputs if self.inputs is not None else _inputs_digest(primitive, parameters)
        return f"{primitive}:flow-run:{self.flow_run_id}:{inputs}:{self.occurrence}"


class Occurrences(_state.LockedDict[tuple["UUID", int], Counter[str]]):
    """Bounded per-process call counters, one per flow-run attempt (thread-safe)."""

    def __init__(self, memory: int = MEMORY) -> None:
        super().__init__(memory)

    def next(self, flow_run_id: UUID, attempt: int, inputs: str) -> int:
        """Return how many calls with ``inputs`` this attempt made before, and count this one."""
        with self.guard:
            counter = self.setdefault((flow_run_id, attempt), Counter())
            occurrence = counter[inputs]
            counter[inputs] += 1
            self.trim()
            return occurrence


#: The calling process's counters (see the module docstring).
OCCURRENCES: Final = Occurrences().registered(
    "_identity.OCCURRENCES",
    holds="in the flow's process, a count of identical submit calls per flow-run attempt",
    bound=f"{MEMORY:,} flow-run attempts, oldest dropped first",
)


class FlowScopes(_state.LockedDict["UUID", str]):
    """Where a flow run's calls are counted: stable across retries of its parent flows.

    A top-level flow run is its own scope (its id). A subflow run is new for every attempt of
    its parent, but the task run Prefect creates in the parent to track it is not: the server
    keeps one task run per (parent flow run, task key, dynamic key), and the dynamic key counts
    the parent attempt's calls of that subflow. So a subflow's scope is its parent's scope plus
    that tracking task run's key and dynamic key, read once from the Prefect API and
    remembered (bounded; derivable again at any time).
    """

    def __init__(self, memory: int = MEMORY) -> None:
        super().__init__(memory)

    def scope_of(self, flow_run: FlowRun) -> str:
        """Return the scope of ``flow_run``'s submit calls."""
        if flow_run.parent_task_run_id is None:
            return str(flow_run.id)
        with self.guard:
            known = self.get(flow_run.id)
        if known is not None:
            return known
        scope = self._read_scope(flow_run)
        with self.guard:
            self[flow_run.id] = scope
            self.trim()
        return scope

    @staticmethod
    def _read_scope(flow_run: FlowRun) -> str:
        path: list[str] = []
        with get_client(sync_client=True) as client:
            run = flow_run
            while run.parent_task_run_id is not None:
                tracking = client.read_task_run(run.parent_task_run_id)
                path.append(f"{tracking.task_key}:{tracking.dynamic_key}")
                if tracking.flow_run_id is None:
                    break
                run = client.read_flow_run(tracking.flow_run_id)
        return "/".join([str(run.id), *reversed(path)])


#: The scopes of the subflow runs this process made calls in.
SCOPES: Final = FlowScopes().registered(
    "_identity.SCOPES",
    holds="the call-counting scope of each subflow run this process made submit calls in",
    bound=f"{MEMORY:,} subflow runs, oldest dropped first (read again from the API)",
)


def _inputs_digest(primitive: PrimitiveName, parameters: Mapping[str, Any]) -> str:
    """A digest of what one call submits (the flow run is added by the caller)."""
    config = parameters.get("runtime_config")
    backend_name = config.backend_name if isinstance(config, QiskitRuntimeConfig) else "?"
    pubs = parameters.get("pubs") or []
    options = parameters.get("options")
    try:
        repeat = parameters.get("repeat")
        if primitive == "sampler":
            return build_qiskit_sampler_input_digest(
                pubs, backend_name=backend_name, shots=parameters.get("shots"),
                cache_scope="global", options=options, repeat=repeat,
            )  # fmt: skip
        return build_qiskit_estimator_input_digest(
            pubs, backend_name=backend_name, precision=parameters.get("precision"),
            cache_scope="global", options=options, repeat=repeat,
        )  # fmt: skip
    except InvalidInputError:
        return "invalid-input"  # the submit step rejects it before anything is posted


def _holds_futures(parameters: Mapping[str, Any]) -> bool:
    """Whether some argument is still a future or a state (resolved only where the task runs)."""
    found: list[object] = []

    def look(value: object) -> object:
        if isinstance(value, (PrefectFuture, State)):
            found.append(value)
        return value

    visit_collection(dict(parameters), visit_fn=look, return_data=False)
    return bool(found)


def assign_call_identity(
    primitive: PrimitiveName, parameters: Mapping[str, Any]
) -> CallIdentity | None:
    """Give a submit call made in this process its identity, or ``None`` if it needs none.

    A call with an input digest, a call outside a flow run and a call made inside a task that
    runs on a remote worker (where the flow's call order is not known) get none.
    """
    if parameters.get("input_digest") is not None:
        return None
    flow_ctx = FlowRunContext.get()
    if flow_ctx is None or flow_ctx.flow_run is None or flow_ctx.detached:
        return None
    flow_run = flow_ctx.flow_run
    inputs = None if _holds_futures(parameters) else _inputs_digest(primitive, parameters)
    occurrence = OCCURRENCES.next(flow_run.id, flow_run.run_count, inputs or _PENDING)
    label = str(occurrence) if inputs is not None else f"{_PENDING}-{occurrence}"
    return CallIdentity(SCOPES.scope_of(flow_run), inputs, label)


def _no_identity_error(primitive: PrimitiveName) -> InvalidInputError:
    return InvalidInputError(
        f"submit_{primitive}_job_task was called without input_digest inside a task that runs on "
        "a remote task-runner worker (Dask, Ray): only the flow's own process knows the order "
        "of its calls, so this call has no identity that would survive a retry, and it was not "
        f"submitted. Submit it from the flow (submit_{primitive}_job_task.submit(...)), or pass "
        f"input_digest=build_qiskit_{primitive}_input_digest(...).",
        argument="input_digest",
    )


def run_identity(primitive: PrimitiveName, parameters: Mapping[str, Any]) -> tuple[str, bool]:
    """Return the call identity of the running submit task, and whether it may repeat.

    The second value says whether an earlier attempt of the same submission may exist: a task
    or a flow retry, or any run on a remote task-runner worker (Dask and Ray run a task again
    on another worker when its worker dies, as a new attempt Prefect does not count).

    Raises:
        InvalidInputError: The task carries no call identity and runs where none can be given.
    """
    task_ctx = TaskRunContext.get()
    if task_ctx is None:  # only for type narrowing: the submit tasks always have a context
        return f"{primitive}:adhoc:{uuid.uuid4()}", False
    task_run = task_ctx.task_run
    flow_ctx = FlowRunContext.get()
    flow_run = flow_ctx.flow_run if flow_ctx is not None else None
    attempt = flow_run.run_count if flow_run is not None else 0
    detached = flow_ctx is not None and flow_ctx.detached
    maybe_earlier = task_run.run_count > 1 or attempt > 1 or detached
    if task_run.flow_run_id is None:
        return f"{primitive}:task-run:{task_run.id}", maybe_earlier
    carried = getattr(task_ctx.task, CALL_IDENTITY_ATTRIBUTE, None)
    if not isinstance(carried, CallIdentity):
        raise _no_identity_error(primitive)
    return carried.key(primitive, parameters), maybe_earlier


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
    if input_digest is not None:
        input_digest = repeated_digest(input_digest, parameters.get("repeat"))
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
    "CALL_IDENTITY_ATTRIBUTE",
    "OCCURRENCES",
    "SCOPES",
    "CallIdentity",
    "FlowScopes",
    "Occurrences",
    "SubmissionIdentity",
    "assign_call_identity",
    "identify",
    "run_cache_key",
    "run_identity",
]
