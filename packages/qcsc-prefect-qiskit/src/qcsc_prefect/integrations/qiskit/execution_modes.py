"""Batch and Session execution modes, owned by the flow run.

``QiskitRuntimeConfig(execution_mode="batch")`` (or ``"session"``) makes every task that uses the
configuration inside one flow run submit into one native ``Batch`` (``Session``):

- **Opened lazily** on the first submission, on the configuration's backend, under the submit
  lock, so that concurrent tasks (and hosts) open one, not several.
- **Persisted**: its id is written to Prefect's result storage under a key made of the flow's name,
  its parameters, the backend and the mode. A flow retry, or a rerun after the flow process was
  killed, finds the record and resumes the same Batch/Session with ``from_id`` instead of
  opening another.
- **Closed when the flow run ends** (completed, failed or cancelled; not when it crashed, so that
  the rerun can resume it): the library adds one hook to the running flow, which closes what that
  flow run opened and deletes the record.
- A persisted Batch/Session the service has closed, or no longer knows, is reported and replaced
  by a new one on first use in a run — nothing of that run is in it yet, so that is safe. A
  *Session* that closes while the flow run is using it is not replaced silently: the next
  submission raises `SessionClosedError` (an iterative algorithm must know its session ended); a
  *Batch* (independent jobs) is replaced with a warning.

``QiskitRuntimeConfig(session_id=...)`` instead joins a Batch/Session the caller opened (and
closes): an id the service does not know, or a closed one, is refused before anything is posted.

Exactly-once submission is unchanged: every job still carries its idempotency tag and is looked up
before posting. ``channel="local"`` and simulator backends cannot hold a Batch/Session: asking for
one raises `RuntimeConfigError` before anything is submitted.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from prefect.context import FlowRunContext
from prefect.results import ResultStore, aget_default_result_storage
from prefect.utilities.hashing import hash_objects

from . import _state
from ._logging import run_logger
from ._runtime import native
from ._runtime.pool import call_blocking
from ._runtime.translate import translating_errors
from .errors import RuntimeConfigError, SessionClosedError
from .locking import submit_lock_for
from .usage import arecord_session_usage, session_usage_row

if TYPE_CHECKING:
    from uuid import UUID

    from ._logging import Logger
    from .blocks import QiskitRuntimeConfig

#: How a job is submitted: on its own, in a Batch, or in a (dedicated) Session.
ExecutionMode: TypeAlias = Literal["job", "batch", "session"]

#: How long a task waits for another task that is opening the same Batch/Session (seconds).
OPEN_TIMEOUT: Final = 300.0

#: How often a flow run re-checks that its Batch/Session still accepts jobs (seconds).
RECHECK: Final = 10.0

#: How many flow runs' open Batch/Session objects one process remembers.
MEMORY: Final = 1_000

_CLOSED_STATES: Final = frozenset({"closed"})


@dataclass(frozen=True)
class ExecutionTarget:
    """Where a primitive submits: the native ``mode`` argument and what it is.

    Attributes:
        mode: ``"job"``, ``"batch"`` or ``"session"``.
        native_mode: The backend (job mode) or the native ``Batch``/``Session``.
        session_id: The Batch/Session id, if any.
    """

    mode: ExecutionMode
    native_mode: Any
    session_id: str | None


@dataclass
class _Owned:
    """A Batch/Session a flow run uses, and the record that persists its id."""

    session: Any
    record_key: str
    mode: ExecutionMode = "session"
    used: bool = False
    checked: float = field(default_factory=time.monotonic)

    async def still_accepting(self) -> bool:
        """Whether the service still accepts jobs in it (asked at most every `RECHECK`)."""
        if time.monotonic() - self.checked < RECHECK:
            return True
        accepting = await call_blocking(_accepting, self.session)
        self.checked = time.monotonic()
        return accepting


_owned: dict[tuple[UUID, str], _Owned] = {}
_owned_guard = threading.Lock()

_state.register_dict(
    "execution_modes._owned",
    _owned,
    _owned_guard,
    holds="the Batch or Session each flow run submits into",
    bound=f"{MEMORY:,} flow runs, oldest dropped first",
)


async def aexecution_target(
    config: QiskitRuntimeConfig, backend: Any, logger: Logger
) -> ExecutionTarget:
    """Return where the running task submits under ``config``'s execution mode.

    Raises:
        RuntimeConfigError: Batch/Session asked for where none can exist (local channel,
            simulator backend, outside a flow run).
        SessionClosedError: The flow run's Session ended while the flow run was using it.
    """
    mode: ExecutionMode = config.execution_mode
    if mode == "job":
        return ExecutionTarget("job", backend, None)
    if config.session_id is not None:
        return await _join_given(config, mode)
    flow_ctx = check_execution_mode(config, backend)
    assert flow_ctx is not None  # not job mode: a flow run context was checked for
    record_key = _record_key(config, mode, flow_ctx)
    slot = (flow_ctx.flow_run.id, record_key)  # type: ignore[union-attr]
    owned = _owned.get(slot)
    if owned is None or not await owned.still_accepting():
        owned = await _open_or_resume(config, backend, mode, record_key, slot, owned, logger)
        _register_close_hook(flow_ctx)
    owned.used = True
    return ExecutionTarget(mode, owned.session, owned.session.session_id)


async def _join_given(config: QiskitRuntimeConfig, mode: ExecutionMode) -> ExecutionTarget:
    """Join the Batch/Session the configuration names (the caller owns it: never closed here)."""
    session_id = str(config.session_id)
    try:
        session = await call_blocking(_from_id, config, mode, session_id)
        accepting = await call_blocking(_accepting, session)
    except Exception as exc:
        raise RuntimeConfigError(
            f"the service does not know the {mode} {session_id} named by `session_id` "
            f"({type(exc).__name__}); it may have expired or belong to another instance. "
            "Remove `session_id` to let the flow run open its own. Nothing was submitted."
        ) from exc
    if not accepting:
        raise SessionClosedError(
            f"the {mode} {session_id} named by `session_id` is closed; nothing was submitted. "
            "Remove `session_id` to let the flow run open a new one.",
            session_id=session_id,
        )
    return ExecutionTarget(mode, session, session_id)


def check_execution_mode(config: QiskitRuntimeConfig, backend: Any) -> FlowRunContext | None:
    """Refuse a Batch/Session where none can exist; return the owning flow run's context.

    Raises:
        RuntimeConfigError: The local channel, a simulator backend, or no flow run.
    """
    mode = config.execution_mode
    if mode == "job":
        if config.session_id is not None:
            raise RuntimeConfigError(
                "`session_id` names a Batch/Session to join, but execution_mode='job'; set "
                "execution_mode='batch' or 'session' to match it. Nothing was submitted."
            )
        return None
    where = None
    if config.channel == "local":
        where = 'the local channel (channel="local") runs jobs in-process'
    elif _is_simulator(backend):
        where = f"backend {backend.name} is a simulator"
    if where is not None:
        raise RuntimeConfigError(
            f"execution_mode={mode!r} needs a Qiskit Runtime service and a real device, but "
            f"{where}. Use execution_mode='job' here, or point the configuration at a service "
            "(or at the qcsc-runtime-emulator) for Batch/Session runs. Nothing was submitted."
        )
    flow_ctx = FlowRunContext.get()
    if config.session_id is not None:
        return flow_ctx  # a given Batch/Session belongs to the caller, not to a flow run
    if flow_ctx is None or flow_ctx.flow_run is None:
        raise RuntimeConfigError(
            f"execution_mode={mode!r} needs a flow run to own the {mode}: call the task from "
            "inside a @flow, or use execution_mode='job'. Nothing was submitted."
        )
    return flow_ctx


def _is_simulator(backend: Any) -> bool:
    try:
        return bool(backend.configuration().simulator)
    except Exception:
        return True  # fake/local backends have no service-side configuration


def _record_key(config: QiskitRuntimeConfig, mode: str, flow_ctx: FlowRunContext) -> str:
    """The persisted record's key: flow name, its parameters, backend, account and mode."""
    flow_run = flow_ctx.flow_run
    parameters = hash_objects(flow_run.parameters if flow_run is not None else {}) or ""
    material = json.dumps(
        [flow_ctx.flow.name if flow_ctx.flow else "", parameters, config.backend_name,
         config.channel, config.instance, mode],
    )  # fmt: skip
    return f"qcsc-qiskit-v1-{mode}-{hashlib.sha256(material.encode()).hexdigest()}"


async def _open_or_resume(
    config: QiskitRuntimeConfig,
    backend: Any,
    mode: ExecutionMode,
    record_key: str,
    slot: tuple[UUID, str],
    previous: _Owned | None,
    logger: Logger,
) -> _Owned:
    """Under the submit lock: resume the persisted Batch/Session or open a new one."""
    if previous is not None:
        _replace_closed(previous, mode, logger)
    lock = submit_lock_for(config.lock_url)
    lease = await lock.acquire(f"qcsc-qiskit-{record_key}", timeout=OPEN_TIMEOUT)
    if lease is None:
        raise RuntimeConfigError(
            f"another task has been opening the flow run's {mode} for over {OPEN_TIMEOUT:g} s "
            f"({lock.description}); nothing was submitted. Rerun the flow."
        )
    try:
        opened_meanwhile = _owned.get(slot)
        if opened_meanwhile is not None and opened_meanwhile is not previous:
            return opened_meanwhile  # another task of this flow run opened it while we waited
        store = await _store()
        session: Any = await _resume(store, config, mode, record_key, logger)
        if session is None:
            session = await call_blocking(_open, config, backend, mode, logger)
            await store.awrite(obj=str(session.session_id), key=record_key)
    finally:
        lease.release()
    owned = _Owned(session=session, record_key=record_key, mode=mode)
    with _owned_guard:
        _owned[slot] = owned
        while len(_owned) > MEMORY:
            del _owned[next(iter(_owned))]
    return owned


def _replace_closed(previous: _Owned, mode: ExecutionMode, logger: Logger) -> None:
    session_id = previous.session.session_id
    if mode == "session" and previous.used:
        raise SessionClosedError(
            f"the flow run's Session {session_id} was closed by the service (its maximum time "
            "or idle time ran out) while the flow run was using it. Nothing was submitted. Rerun "
            "the flow: it opens a new Session, and jobs already done are adopted, not rerun.",
            session_id=session_id,
        )
    logger.warning(
        "The flow run's %s %s no longer accepts jobs; opening a new one.", mode, session_id
    )


def _accepting(session: Any) -> bool:
    """Whether the service still accepts jobs in ``session`` (blocking)."""
    with translating_errors():
        details = session.details()
    if not details:
        return True
    return details.get("state") not in _CLOSED_STATES and details.get("accepting_jobs") is not False


async def _store() -> ResultStore:
    return ResultStore(result_storage=await aget_default_result_storage())


async def _resume(
    store: ResultStore, config: QiskitRuntimeConfig, mode: ExecutionMode, key: str, logger: Logger
) -> Any | None:
    """Return the persisted Batch/Session if the service still accepts jobs in it."""
    if not await store.aexists(key):
        return None
    session_id = str((await store.aread(key)).result)
    try:
        session = await call_blocking(_from_id, config, mode, session_id)
        if await call_blocking(_accepting, session):
            logger.info("Resumed the %s %s opened by an earlier attempt.", mode, session_id)
            return session
        reason = "the service closed it"
    except Exception as exc:
        reason = f"the service no longer knows it ({type(exc).__name__})"
    logger.warning("Not resuming the %s %s: %s; opening a new one.", mode, session_id, reason)
    return None


def _from_id(config: QiskitRuntimeConfig, mode: ExecutionMode, session_id: str) -> Any:
    with translating_errors():
        return native.execution_mode_class(mode).from_id(session_id, config.get_service())


def _open(config: QiskitRuntimeConfig, backend: Any, mode: ExecutionMode, logger: Logger) -> Any:
    """Open a new Batch/Session on ``backend`` (blocking)."""
    with translating_errors():
        session = native.execution_mode_class(mode)(
            backend=backend, max_time=config.session_max_time
        )
    logger.info("Opened %s %s on %s for this flow run.", mode, session.session_id, backend.name)
    return session


def _register_close_hook(flow_ctx: FlowRunContext) -> None:
    flow = flow_ctx.flow
    if flow is None:
        return
    for hooks in (flow.on_completion_hooks, flow.on_failure_hooks, flow.on_cancellation_hooks):
        if close_flow_run_sessions not in hooks:
            hooks.append(close_flow_run_sessions)


async def close_flow_run_sessions(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook: close every Batch/Session ``flow_run`` opened and forget its record.

    Added to the running flow by the library on first use; a flow run that crashed keeps its
    Batch/Session open so that the rerun can resume it.
    """
    with _owned_guard:
        mine = [(slot, owned) for slot, owned in _owned.items() if slot[0] == flow_run.id]
        for slot, _ in mine:
            del _owned[slot]
    store = await _store() if mine else None
    for _, owned in mine:
        logger = run_logger()
        seconds: float | None = None
        try:
            seconds = await call_blocking(_close, owned.session)
        except Exception as exc:
            # Closing is a courtesy: the service closes it at its maximum time anyway.
            logger.warning(
                "Could not close the flow run's Batch/Session %s: %s",
                owned.session.session_id,
                exc,
            )
        assert store is not None
        await store.awrite(obj=None, key=owned.record_key, expiration=_expired())
        if owned.used:
            row = session_usage_row(
                str(owned.session.session_id),
                mode=owned.mode,
                backend_name=str(owned.session.backend() or ""),
                seconds=seconds,
            )
            await arecord_session_usage(str(flow_run.id), row, logger)


def _close(session: Any) -> float | None:
    """Close ``session`` (blocking); return the usage the service reports for it, if any."""
    with translating_errors():
        session.close()
    try:
        usage = session.usage()
    except Exception:  # the usage is informative; a closed session is what matters here
        return None
    return float(usage) if isinstance(usage, (int, float)) else None


def _expired() -> Any:
    return datetime.now(UTC) - timedelta(seconds=1)


__all__ = [
    "ExecutionMode",
    "ExecutionTarget",
    "aexecution_target",
    "check_execution_mode",
    "close_flow_run_sessions",
]
