"""The submit cache's store: where an entry lives, and how to invalidate it through Prefect.

The cache *keys* are public and live in `cache` (users pass them as ``cache_key_fn``); this
private module holds what the library does with the stored entries.

The robust submit task persists its `JobReference` under its cache key. When that job can never
give a result (it failed, was cancelled, or its results expired), the entry must stop answering
``Cached``, or every rerun would return the dead job again. The submit step records *where* its
entry lives (`CacheLocation`: the result storage and, when the cache policy has one, the key
storage, each as a saved Block id or a local base path); the fetch step rebuilds a Prefect
``ResultStore`` from that and overwrites the entry with an already-expired record, which
Prefect's cache lookup treats as a miss. This works for any storage Block (local, shared or
remote) and for a separate ``key_storage``, and never touches files by path.

A record is rewritten while other flow runs may be reading it (a concurrent identical
submission commits the same entry; invalidation overwrites it). Prefect's ``LocalFileSystem``
empties a file before writing it, so such a reader can load an empty or partial record:

* invalidation therefore writes through `AtomicLocalFileSystem` (temporary file, then rename)
  wherever Prefect would have used a plain ``LocalFileSystem``;
* `retry_torn_cache_read` is the submit tasks' ``retry_condition_fn``: it retries an attempt
  only when it failed while Prefect loaded the cached record, before the task body ran. The
  next attempt looks the cache up again; if the record is still being written, the lookup is a
  miss and the body adopts the job by its tag, under the submit lock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from traceback import walk_tb
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect.filesystems import LocalFileSystem, NullFileSystem
from prefect.results import ResultStore, aget_default_result_storage, aresolve_result_storage
from prefect.transactions import get_transaction

from ._logging import run_logger
from .jobs import CacheLocation, JobReference
from .storage import AtomicLocalFileSystem

if TYPE_CHECKING:
    import logging

    from prefect import State, Task
    from prefect.client.schemas.objects import TaskRun
    from prefect.filesystems import WritableFileSystem


_BLOCK = "block:"
_PATH = "path:"
_UNKNOWN = "unsaved:"


def _storage_location(storage: object) -> str | None:
    if storage is None or isinstance(storage, NullFileSystem):
        return None
    block_id = getattr(storage, "_block_document_id", None)
    if block_id is not None:
        return f"{_BLOCK}{block_id}"
    if isinstance(storage, LocalFileSystem) and storage.basepath:
        return f"{_PATH}{storage.basepath}"
    # An unsaved storage Block cannot be found again from another process: say so, so that
    # invalidation warns instead of writing to the default storage.
    return f"{_UNKNOWN}{type(storage).__name__}"


def current_cache_entry() -> tuple[str | None, CacheLocation | None]:
    """Return the running task's cache key and where its entry will be stored."""
    transaction = get_transaction()
    if transaction is None or not isinstance(transaction.key, str):
        return None, None
    store = transaction.store
    if not isinstance(store, ResultStore):
        return transaction.key, None
    location = CacheLocation(
        result_storage=_storage_location(store.result_storage),
        key_storage=_storage_location(store.metadata_storage),
    )
    return transaction.key, location


async def _resolve(described: str | None) -> WritableFileSystem | None:
    if described is None:
        return None
    if described.startswith(_BLOCK):
        return await aresolve_result_storage(UUID(described.removeprefix(_BLOCK)))
    if described.startswith(_UNKNOWN):
        raise ValueError(
            f"the submit task stored it in an unsaved {described.removeprefix(_UNKNOWN)} Block, "
            "which cannot be found again; save the storage Block to make invalidation work"
        )
    return AtomicLocalFileSystem(basepath=described.removeprefix(_PATH))


def _atomic(storage: WritableFileSystem) -> WritableFileSystem:
    """``storage``, or the same directory written atomically if it is a plain LocalFileSystem."""
    if type(storage) is LocalFileSystem:
        return AtomicLocalFileSystem(basepath=storage.basepath)
    return storage


async def invalidate_submit_cache(reference: JobReference, logger: logging.Logger | Any) -> bool:
    """Make the submit-cache entry of ``reference`` a miss; return whether that worked.

    Failures are logged with what to do instead (rerun the submit task with
    ``refresh_cache=True``), never raised: the job's own error is what the caller reports.
    """
    key = reference.cache_key
    if not key:
        return False
    location = reference.cache_location or CacheLocation()
    try:
        storage = await _resolve(location.result_storage) or await aget_default_result_storage()
        key_storage = await _resolve(location.key_storage)
        store = ResultStore(
            result_storage=_atomic(storage),
            metadata_storage=None if key_storage is None else _atomic(key_storage),
        )
        expired: Any = datetime.now(UTC) - timedelta(seconds=1)
        await store.awrite(obj=None, key=key, expiration=expired)
    except Exception as exc:
        logger.warning(
            "Could not invalidate the submit cache entry %s (%s: %s). Rerun the submit task "
            "with refresh_cache=True to submit anew.",
            key,
            type(exc).__name__,
            exc,
        )
        return False
    logger.info(
        "Invalidated the submit cache entry for job %s; a rerun submits anew.", reference.job_id
    )
    return True


#: Where Prefect loads a cached record (``ResultStore._aread``/``_read`` in prefect.results).
_RECORD_LOADERS = frozenset({"_aread", "_read"})


def is_torn_cache_read(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while Prefect loaded the task's cached record.

    True when the traceback passes through Prefect's record loader (``ResultStore._aread`` or
    ``_read``) and never through this package, i.e. the task body did not run. The record was
    found a moment earlier (Prefect's existence check read it whole), so a failure to load it is
    a rewrite in progress: an empty or partial file, or one that was just replaced.
    """
    in_loader = False
    for frame, _ in walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith(__package__ or __name__):
            return False
        if module == "prefect.results" and frame.f_code.co_name in _RECORD_LOADERS:
            in_loader = True
    return in_loader


def retry_torn_cache_read(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn`` of the submit tasks: retry only a torn cache read.

    Never retries a failure of the task body (submission is never retried blindly). A plain
    module-level function on purpose (see `should_retry_qiskit_fetch_failure`). Never raises.

    Args:
        task: The task that failed (unused).
        task_run: The failed task run (unused).
        state: The ``Failed`` state of the attempt; its data is the exception.

    Returns:
        ``True`` when the attempt failed while Prefect loaded the cached record.
    """
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None or not is_torn_cache_read(exc):
        return False
    run_logger().warning(
        "The submit-cache record was being rewritten by another flow run while this one read "
        "it (%s: %s); looking the cache up again.",
        type(exc).__name__,
        exc,
    )
    return True


__all__ = [
    "current_cache_entry",
    "invalidate_submit_cache",
    "is_torn_cache_read",
    "retry_torn_cache_read",
]
