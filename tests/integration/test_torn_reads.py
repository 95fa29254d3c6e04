"""No torn reads of submit-cache records: a cache lookup that meets a record being rewritten.

The race, as users met it: several flow runs submit the same global-scope input at once. Those
that miss the cache all run the submit body (the submit lock and the job tag make them adopt one
job) and each commits the same record. Meanwhile a later identical run looks the cache up:
Prefect's ``AsyncTransaction.begin`` reads the whole record once (``ResultStore.aexists``, which
treats any read error as "no record"), then ``call_task_fn`` reads it again
(``ResultStore.aread``, which does not). If a committer rewrites the record between the two
reads, and the storage writes in place (Prefect's ``LocalFileSystem.write_path`` opens the file
with ``"wb"``, which empties it, and only then writes), the second read gets an empty or partial
record, ``ResultRecord.deserialize`` raises pydantic's ``ValidationError`` ("Invalid JSON: EOF
while parsing"), and the flow run fails before any of our code runs.

Here the race is made deterministic, with no change to Prefect's or our code:

* the reader is a real flow run calling the submit task; an audit hook on ``open`` lets its
  first read (the existence check) through and holds its second read (the record's load);
* the writer is Prefect's own persistence path (``ResultStore.write``) into the same storage,
  run in a thread whose profiler pauses it at its first data write of a file in the record's
  directory: after ``open(..., "wb")`` emptied the record (in-place storage), or after the
  temporary file was created (atomic storage). The reader's second read then proceeds, and the
  writer finishes after the flow run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from prefect import flow
from prefect.results import ResultStore, aget_default_result_storage
from prefect.settings import PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, temporary_settings
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    AtomicLocalFileSystem,
    InvalidInputError,
    JobReference,
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    submit_sampler_job_task,
)
from qcsc_prefect.integrations.qiskit._cache_store import (
    invalidate_submit_cache,
    retry_torn_cache_read,
)

FEZ = "ibm_fez"

#: Upper bound on each step of the choreography (seconds); never reached when it works.
STEP_TIMEOUT = 30.0


@dataclass
class TornWindow:
    """Holds a reader of ``record`` at its second read until a rewrite of it is half done."""

    record: Path
    rewrite: Callable[[], None]
    mid_write: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    reads: int = 0
    writer: threading.Thread | None = None
    errors: list[BaseException] = field(default_factory=list)

    def on_audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or self.writer is not None or not isinstance(args[0], str | Path):
            return
        if args[1] != "r" or Path(args[0]).resolve() != self.record:
            return
        self.reads += 1
        if self.reads < 2:  # the cache lookup's existence check: let it read the whole record
            return
        self.writer = threading.Thread(target=self._write, name="torn-window-writer")
        self.writer.start()
        if not self.mid_write.wait(STEP_TIMEOUT):
            self.errors.append(AssertionError("the writer never reached its first data write"))

    def _in_record_directory(self, file: object) -> bool:
        name = getattr(file, "name", None)
        return isinstance(name, str | os.PathLike) and (
            Path(name).resolve().parent == self.record.parent
        )

    def _is_record_data_write(self, frame: FrameType, event: str, arg: object) -> bool:
        if event == "c_call":  # file.write(...) called from Python code
            return getattr(arg, "__name__", None) == "write" and self._in_record_directory(
                getattr(arg, "__self__", None)
            )
        if event == "call" and frame.f_code.co_name == "write":  # anyio's AsyncFile.write
            wrapped = getattr(frame.f_locals.get("self"), "wrapped", None)
            return self._in_record_directory(wrapped)
        return False

    def _pause_at_first_data_write(self, frame: FrameType, event: str, arg: object) -> None:
        if not self.mid_write.is_set() and self._is_record_data_write(frame, event, arg):
            self.mid_write.set()
            self.release.wait(STEP_TIMEOUT)

    def _write(self) -> None:
        # Also profile the threads the writer starts (an async writer's file I/O runs in one).
        threading.setprofile(self._pause_at_first_data_write)
        sys.setprofile(self._pause_at_first_data_write)
        try:
            self.rewrite()
        except BaseException as exc:  # reported by finish()
            self.errors.append(exc)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]

    def finish(self) -> None:
        """Let the writer complete; raise what went wrong in the choreography."""
        self.release.set()
        if self.writer is not None:
            self.writer.join(STEP_TIMEOUT)
        if self.errors:
            raise self.errors[0]


class _AuditHook:
    """One process-wide audit hook (they cannot be removed) that serves the current window."""

    window: TornWindow | None = None
    installed = False

    @classmethod
    def serve(cls, window: TornWindow) -> None:
        if not cls.installed:
            sys.addaudithook(cls._dispatch)
            cls.installed = True
        cls.window = window

    @classmethod
    def _dispatch(cls, event: str, args: tuple[Any, ...]) -> None:
        window = cls.window
        if window is not None:
            window.on_audit(event, args)


@pytest.fixture
def torn_window() -> Iterator[Callable[[Path, Callable[[], None]], TornWindow]]:
    windows: list[TornWindow] = []

    def arm(record: Path, rewrite: Callable[[], None]) -> TornWindow:
        window = TornWindow(record.resolve(), rewrite)
        windows.append(window)
        _AuditHook.serve(window)
        return window

    yield arm
    _AuditHook.window = None
    for window in windows:
        window.release.set()


@pytest.fixture
def stack_storage_block(tmp_path: Path) -> Iterator[str]:
    """Shared result storage configured as the stack does: a saved `AtomicLocalFileSystem`."""
    name = f"torn-{uuid.uuid4().hex[:8]}"
    AtomicLocalFileSystem(basepath=str(tmp_path / "shared-results")).save(name)
    slug = f"atomic-local-file-system/{name}"
    with temporary_settings(updates={PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: slug}):
        yield slug


def _concurrent_commit(storage: Any, first: JobReference) -> Callable[[], None]:
    def rewrite() -> None:
        # What another identical submitter's commit does: Prefect persists the same reference.
        ResultStore(result_storage=storage).write(obj=first, key=first.cache_key)

    return rewrite


def _invalidation(storage: Any, first: JobReference) -> Callable[[], None]:
    def rewrite() -> None:
        # What a fetch of a failed job does: overwrite the entry with an expired record.
        assert asyncio.run(invalidate_submit_cache(first, logging.getLogger(__name__)))

    return rewrite


async def _race_a_rerun_against_a_rewrite(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    torn_window: Callable[[Path, Callable[[], None]], TornWindow],
    submit: Any,
    rewrite: Callable[[Any, JobReference], Callable[[], None]],
    shots: int,
) -> None:
    """First run submits; an identical rerun's lookup meets the record half rewritten."""
    config = QiskitRuntimeConfig(backend_name=FEZ)
    pubs = [isa_bell]
    digest = build_qiskit_sampler_input_digest(
        pubs, backend_name=FEZ, shots=shots, cache_scope="global"
    )

    @flow(name="torn-read-submit")
    async def submit_flow() -> JobReference:
        reference: JobReference = await submit(
            pubs, runtime_config=config, shots=shots, input_digest=digest
        )
        return reference

    first = await submit_flow()
    assert first.cache_key is not None
    storage = await aget_default_result_storage()
    record = Path(storage._resolve_path(first.cache_key))  # type: ignore[attr-defined]
    assert record.is_file()

    window = torn_window(record, rewrite(storage, first))
    state = await submit_flow(return_state=True)
    window.finish()

    assert window.reads >= 2 and window.mid_write.is_set(), "the race was not staged"
    assert state.is_completed(), f"the rerun failed on the record being rewritten: {state}"
    rerun: JobReference = await state.result()
    assert rerun.job_id == first.job_id
    assert runtime_emulator.control.job_count() == 1
    assert not list(record.parent.glob(".*.tmp")), "a temporary file was left behind"


async def test_stack_storage_block_never_shows_a_half_written_record(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    torn_window: Callable[[Path, Callable[[], None]], TornWindow],
    stack_storage_block: str,
) -> None:
    await _race_a_rerun_against_a_rewrite(
        runtime_emulator, isa_bell, torn_window, submit_sampler_job_task, _concurrent_commit, 141
    )


async def test_default_storage_rerun_meeting_a_half_written_record_does_not_fail(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    torn_window: Callable[[Path, Callable[[], None]], TornWindow],
) -> None:
    await _race_a_rerun_against_a_rewrite(
        runtime_emulator, isa_bell, torn_window, submit_sampler_job_task, _concurrent_commit, 142
    )


async def test_default_storage_torn_read_is_retried_by_the_retry_condition(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    torn_window: Callable[[Path, Callable[[], None]], TornWindow],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # In Prefect's default storage the rerun's record load does meet an empty record; the
    # retry condition sends the attempt round again, and the body adopts the job by its tag.
    submit = submit_sampler_job_task.with_options(
        retries=1, retry_condition_fn=retry_torn_cache_read
    )
    await _race_a_rerun_against_a_rewrite(
        runtime_emulator, isa_bell, torn_window, submit, _concurrent_commit, 143
    )
    torn = [r for r in caplog.records if "was being rewritten by another flow run" in r.message]
    assert len(torn) == 1, "the rerun did not meet the half-written record"
    assert "Adopted existing Qiskit Runtime job" in caplog.text


async def test_retry_condition_never_retries_a_failure_of_the_task_body(
    runtime_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    submit = submit_sampler_job_task.with_options(
        retries=1, retry_condition_fn=retry_torn_cache_read
    )

    @flow(name="torn-read-bad-input")
    async def bad_input_flow() -> None:
        await submit(["not a circuit"], runtime_config=QiskitRuntimeConfig(backend_name=FEZ))

    with pytest.raises(InvalidInputError):
        await bad_input_flow()
    assert "Retry 1/1" not in caplog.text
    assert runtime_emulator.control.job_count() == 0


async def test_invalidation_never_shows_a_half_written_record(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    torn_window: Callable[[Path, Callable[[], None]], TornWindow],
) -> None:
    # Invalidation rewrites the entry in Prefect's default storage, atomically: the rerun reads
    # the old record (Cached, the same job) instead of an empty one.
    await _race_a_rerun_against_a_rewrite(
        runtime_emulator, isa_bell, torn_window, submit_sampler_job_task, _invalidation, 144
    )
