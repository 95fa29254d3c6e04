"""Where a submit-cache entry lives, and how to invalidate it through Prefect's result store.

The robust submit task persists its `JobReference` under its cache key. When that job can never
give a result (it failed, was cancelled, or its results expired), the entry must stop answering
``Cached``, or every rerun would return the dead job again. The submit step records *where* its
entry lives (`CacheLocation`: the result storage and, when the cache policy has one, the key
storage, each as a saved Block id or a local base path); the fetch step rebuilds a Prefect
``ResultStore`` from that and overwrites the entry with an already-expired record, which
Prefect's cache lookup treats as a miss. This works for any storage Block (local, shared or
remote) and for a separate ``key_storage``, and never touches files by path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect.filesystems import LocalFileSystem, NullFileSystem
from prefect.results import ResultStore, aget_default_result_storage, aresolve_result_storage
from prefect.transactions import get_transaction

from .jobs import CacheLocation, JobReference

if TYPE_CHECKING:
    import logging

    from prefect.filesystems import WritableFileSystem


_BLOCK = "block:"
_PATH = "path:"
_UNKNOWN = "unsaved:"


def _describe(storage: object) -> str | None:
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
        result_storage=_describe(store.result_storage),
        key_storage=_describe(store.metadata_storage),
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
    return await aresolve_result_storage(Path(described.removeprefix(_PATH)))


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
        store = ResultStore(
            result_storage=storage, metadata_storage=await _resolve(location.key_storage)
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


__all__ = ["current_cache_entry", "invalidate_submit_cache"]
