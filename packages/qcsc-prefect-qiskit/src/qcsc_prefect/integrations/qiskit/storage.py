"""`AtomicLocalFileSystem`: Prefect result storage on a local or shared disk, written atomically.

Prefect's ``LocalFileSystem.write_path`` opens the target with ``"wb"``, which empties it, and
only then writes the new bytes. A process reading the same record in between (another flow run
looking the submit cache up while an identical submission commits) reads an empty or partial
record, and Prefect's cache lookup fails the task run before any of our code runs.

`AtomicLocalFileSystem` writes the new bytes to a temporary file in the target's directory and
renames it over the target (``os.replace``, atomic on POSIX file systems, NFS included): a reader
sees the old record or the new one, never a mix. A writer that dies mid-write leaves only a
temporary file (``.<name>.<random>.tmp``) behind, never a torn record. Everything else (reading,
paths, directories) is Prefect's ``LocalFileSystem``.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import anyio.to_thread
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.filesystems import LocalFileSystem

if TYPE_CHECKING:
    from pathlib import Path

#: Longest part of the target's name kept in a temporary file's name (file names end at 255).
_NAME_PREFIX_LIMIT = 120


def _temporary_sibling(target: Path) -> Path:
    return target.with_name(f".{target.name[:_NAME_PREFIX_LIMIT]}.{uuid.uuid4().hex}.tmp")


def replace_atomically(target: Path, content: bytes) -> None:
    """Write ``content`` to ``target`` so that no reader ever sees a partial file.

    The bytes go to a new temporary file next to ``target`` (created with ``open(..., "xb")``,
    so with the same permissions a plain ``open`` would give), which then replaces ``target``
    in one ``os.replace``. On failure the temporary file is removed and ``target`` is left as it
    was.

    Args:
        target: The file to write; its directory is created if needed.
        content: The complete new content.

    Raises:
        ValueError: ``target`` exists and is not a regular file.
        OSError: The directory is not writable, the disk is full, ...
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_file():
        raise ValueError(f"Path {target} already exists and is not a file.")
    temporary = _temporary_sibling(target)
    try:
        with open(temporary, "xb") as handle:
            handle.write(content)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class AtomicLocalFileSystem(LocalFileSystem):
    """Result storage in a local or shared directory whose writes readers never see half done.

    A drop-in replacement for Prefect's ``LocalFileSystem`` as result storage (for example the
    storage that several hosts share over NFS): the same ``basepath``, the same reads and paths,
    but each record is written to a temporary file and renamed over the old one. Use it for any
    storage that holds submit-cache records of concurrent flow runs.

    Save one (``AtomicLocalFileSystem(basepath=...).save("BLOCK_NAME")``) and name it as the
    default result storage of every flow run:
    ``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK=atomic-local-file-system/BLOCK_NAME``.

    Example:
        Load a saved block:
        ```python
        from qcsc_prefect.integrations.qiskit import AtomicLocalFileSystem

        storage = AtomicLocalFileSystem.load("BLOCK_NAME")
        ```
    """

    _block_type_name: ClassVar[str] = "Atomic Local File System"
    _block_type_slug: ClassVar[str] = "atomic-local-file-system"
    # No logo of our own: the UI shows its default icon (as for QiskitRuntimeConfig).
    _logo_url: ClassVar[Any] = None
    # _documentation_url: Prefect's page on result storage, inherited from LocalFileSystem.
    _description: ClassVar[str | None] = (
        "Prefect's LocalFileSystem with atomic writes (temporary file, then rename): concurrent "
        "readers of a result or cache record never see it half written."
    )

    async def awrite_path(self, path: str, content: bytes) -> str:
        """Write ``content`` at ``path`` (relative to ``basepath``) atomically.

        Returns:
            The absolute path written.
        """
        target = self._resolve_path(path)
        await anyio.to_thread.run_sync(replace_atomically, target, content)
        return str(target)

    # Dispatched like LocalFileSystem.write_path (sync in sync code, the coroutine above in async
    # code); Prefect's WritableFileSystem types it as async only, hence the ignore.
    @async_dispatch(awrite_path)
    def write_path(self, path: str, content: bytes) -> str:  # type: ignore[override]
        """Write ``content`` at ``path`` (relative to ``basepath``) atomically.

        Returns:
            The absolute path written.
        """
        target = self._resolve_path(path)
        replace_atomically(target, content)
        return str(target)


__all__ = ["AtomicLocalFileSystem", "replace_atomically"]
