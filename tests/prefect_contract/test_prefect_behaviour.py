"""Contracts with Prefect: one real test per Prefect behaviour the library relies on.

Every test runs real flows and tasks against the run's Prefect server (see ``tests/conftest.py``).
When one fails after a Prefect upgrade, the assumption named in its docstring no longer holds:
change the library (and ``docs/development.md``) before changing the test.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import prefect
import pytest
from packaging.version import Version
from prefect import flow, task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.cache_policies import NO_CACHE, CacheKeyFnPolicy
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.context import FlowRunContext, TaskRunContext
from prefect.filesystems import LocalFileSystem
from prefect.locking.filesystem import FileSystemLockManager
from prefect.results import (
    ResultStore,
    aget_default_result_storage,
    aresolve_result_storage,
    resolve_serializer,
)
from prefect.settings import (
    PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK,
    PREFECT_TASKS_REFRESH_CACHE,
    temporary_settings,
)
from prefect.states import Completed, Failed, State, get_state_exception
from prefect.transactions import get_transaction
from prefect.utilities.asyncutils import run_coro_as_sync

PREFECT_VERSION = Version(prefect.__version__)


def _key(context: Any, parameters: dict[str, Any]) -> str:
    return str(parameters["key"])


def _no_key(context: Any, parameters: dict[str, Any]) -> None:
    return None


def _broken_key(context: Any, parameters: dict[str, Any]) -> str:
    raise ValueError("this key function always fails")


def _unique(prefix: str) -> str:
    return f"contract-{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def storage() -> Path:
    """The local result storage every task of this run persists into."""
    return Path(os.environ["PREFECT_LOCAL_STORAGE_PATH"])


def _files(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- isolation


async def test_cache_key_fn_drops_a_policys_isolation_and_lock_manager(tmp_path: Path) -> None:
    """The submit step takes its own lock: ``cache_key_fn`` replaces a SERIALIZABLE policy.

    Both ``with_options(cache_key_fn=...)`` and ``@task(cache_key_fn=..., cache_policy=...)``
    build a fresh ``CacheKeyFnPolicy`` without the policy's isolation level and lock manager,
    while the configured policy holds its lock during the body.
    """
    lock_manager = FileSystemLockManager(lock_files_directory=tmp_path)
    policy = CacheKeyFnPolicy(cache_key_fn=_key).configure(
        isolation_level="SERIALIZABLE", lock_manager=lock_manager
    )

    @task(cache_policy=policy, persist_result=True)
    async def isolation(key: str) -> tuple[str, bool]:
        transaction = get_transaction()
        assert transaction is not None
        assert transaction.isolation_level is not None
        return transaction.isolation_level.name, lock_manager.is_locked(key)

    both = task(cache_policy=policy, cache_key_fn=_key, persist_result=True)(isolation.fn)

    @flow
    async def run(key: str) -> list[tuple[str, bool]]:
        return [
            await isolation(f"{key}-policy"),
            await isolation.with_options(cache_key_fn=_key)(f"{key}-with-options"),
            await both(f"{key}-both"),
        ]

    assert await run(_unique("isolation")) == [
        ("SERIALIZABLE", True),
        ("READ_COMMITTED", False),
        ("READ_COMMITTED", False),
    ]
    assert isolation.with_options(cache_key_fn=_key).cache_policy.lock_manager is None


# --------------------------------------------------------------------------- run identities


async def test_task_retries_keep_the_task_run_and_flow_retries_create_new_ones() -> None:
    """The idempotency identity without a digest: flow run id, flow attempt and call order.

    A task retry is the same task run (same id, ``run_count`` + 1); a flow retry keeps the flow
    run id, increments its ``run_count`` and gives every task call a new task run.
    """
    seen: list[tuple[UUID, int, UUID | None, UUID, int]] = []

    @task(retries=1, retry_delay_seconds=0, cache_policy=NO_CACHE)
    async def attempt() -> None:
        task_ctx = TaskRunContext.get()
        flow_ctx = FlowRunContext.get()
        assert task_ctx is not None and flow_ctx is not None and flow_ctx.flow_run is not None
        task_run, flow_run = task_ctx.task_run, flow_ctx.flow_run
        seen.append(
            (task_run.id, task_run.run_count, task_run.flow_run_id, flow_run.id, flow_run.run_count)
        )
        if task_run.run_count == 1:
            raise RuntimeError("first task attempt")

    @flow(retries=1, retry_delay_seconds=0)
    async def run() -> None:
        await attempt()
        flow_ctx = FlowRunContext.get()
        assert flow_ctx is not None and flow_ctx.flow_run is not None
        if flow_ctx.flow_run.run_count == 1:
            raise RuntimeError("first flow attempt")

    await run()
    assert len(seen) == 4
    columns = [list(column) for column in zip(*seen, strict=True)]
    task_runs, task_counts, parents, flow_runs, flow_counts = columns
    assert task_runs[0] == task_runs[1] != task_runs[2] == task_runs[3]
    assert task_counts == [1, 2, 1, 2]
    assert set(parents) == set(flow_runs) == {flow_runs[0]}
    assert flow_counts == [1, 1, 2, 2]


async def test_the_runner_runs_the_task_object_it_was_handed() -> None:
    """A call identity rides on a copy of the submit task: the running task must be that copy.

    Both the cache-key function and the body read ``TaskRunContext.task``; Dask and Ray ship
    the same object by pickling (tests/runners check those).
    """
    seen: list[str | None] = []

    def key_of(context: TaskRunContext, parameters: dict[str, Any]) -> str:
        seen.append(getattr(context.task, "carried", None))
        return _unique("carried")

    @task(cache_key_fn=key_of)
    def body() -> None:
        task_ctx = TaskRunContext.get()
        assert task_ctx is not None
        seen.append(getattr(task_ctx.task, "carried", None))

    @flow
    def run() -> None:
        futures = []
        for label in ("first", "second"):
            carrier = copy.copy(body)
            carrier.carried = label  # type: ignore[attr-defined]
            futures.append(carrier.submit())
        for future in futures:
            future.result()
        called = copy.copy(body)
        called.carried = "called"  # type: ignore[attr-defined]
        called()

    run()
    assert sorted(seen) == sorted(["first", "first", "second", "second", "called", "called"])


def test_with_options_builds_a_plain_task() -> None:
    """Why `SubmitTask.with_options` restores its class: Prefect's builds a `Task`."""

    class Subclass(prefect.Task[..., None]):
        pass

    made = Subclass(fn=lambda: None, name="subclass").with_options(retries=1)
    assert type(made) is prefect.Task


async def test_each_flow_attempt_has_its_own_run_count_where_calls_are_made() -> None:
    """Call counters are kept per (flow run, ``run_count``): the flow's process sees 1, then 2."""
    contexts: list[int] = []

    @flow(retries=1, retry_delay_seconds=0)
    def run() -> None:
        flow_ctx = FlowRunContext.get()
        assert flow_ctx is not None and flow_ctx.flow_run is not None
        contexts.append(flow_ctx.flow_run.run_count)
        if len(contexts) == 1:
            raise RuntimeError("first flow attempt")

    run()
    assert contexts == [1, 2]


# --------------------------------------------------------------------------- caching


async def test_a_cache_key_of_none_runs_every_time_and_persists_nothing(storage: Path) -> None:
    """The submit task's key must never be ``None``: that silently turns off persistence."""
    runs: list[int] = []

    @task(cache_key_fn=_no_key, persist_result=True)
    async def body() -> str:
        runs.append(1)
        return "value"

    @flow
    async def run() -> list[str]:
        return [(await body(return_state=True)).name for _ in range(2)]

    assert await run() == ["Completed", "Completed"]
    assert len(runs) == 2
    assert _files(storage) == []


async def test_a_key_function_that_raises_runs_the_body_uncached(
    storage: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The submit task refuses by itself: a raising key function only logs an ERROR."""
    runs: list[int] = []

    @task(cache_key_fn=_broken_key, persist_result=True)
    async def body() -> str:
        runs.append(1)
        return "value"

    @flow
    async def run() -> list[str]:
        return [(await body(return_state=True)).name for _ in range(2)]

    with caplog.at_level(logging.ERROR):
        assert await run() == ["Completed", "Completed"]
    assert len(runs) == 2
    assert _files(storage) == []
    assert "Error encountered when computing cache key" in caplog.text


async def test_a_key_function_key_is_the_raw_file_name_and_the_transaction_key(
    storage: Path,
) -> None:
    """Keys name result files verbatim; the body reads its key, key function and flow name."""
    key = _unique("raw")

    @task(persist_result=True)
    async def body(key: str) -> tuple[str | None, bool, str | None]:
        transaction = get_transaction()
        task_ctx, flow_ctx = TaskRunContext.get(), FlowRunContext.get()
        assert task_ctx is not None and flow_ctx is not None
        return (
            transaction.key if transaction is not None else None,
            task_ctx.task.cache_key_fn is _key,
            flow_ctx.flow.name if flow_ctx.flow is not None else None,
        )

    @flow(name="contract-raw-key")
    async def run(key: str) -> list[State[Any]]:
        keyed = body.with_options(cache_key_fn=_key)
        return [await keyed(key, return_state=True) for _ in range(2)]

    first, second = await run(key)
    assert (first.name, second.name) == ("Completed", "Cached")
    assert await first.result() == (key, True, "contract-raw-key")
    assert _files(storage) == [key]


async def test_an_expired_record_is_a_miss(storage: Path) -> None:
    """``cache_expiration`` is honoured: a valid record is ``Cached``, an expired one re-runs.

    The expiration is stored as an absolute time when the record is written; the check does not
    depend on how long a (possibly loaded) run takes.
    """
    valid, expiring = _unique("valid"), _unique("expiring")
    runs: list[str] = []

    @task(cache_key_fn=_key, cache_expiration=timedelta(hours=1), persist_result=True)
    async def body(key: str) -> int:
        runs.append(key)
        return len(runs)

    @flow
    async def run(key: str, expiration: timedelta | None = None) -> str:
        runnable = body if expiration is None else body.with_options(cache_expiration=expiration)
        return (await runnable(key, return_state=True)).name

    assert [await run(valid), await run(valid)] == ["Completed", "Cached"]

    before = datetime.now(UTC)
    assert await run(expiring, timedelta(seconds=1)) == "Completed"
    metadata = json.loads((storage / expiring).read_text())["metadata"]
    expires = datetime.fromisoformat(metadata["expiration"])
    assert before + timedelta(seconds=1) <= expires <= datetime.now(UTC) + timedelta(seconds=1)
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.5)
    assert await run(expiring) == "Completed"
    assert runs == [valid, expiring, expiring]


async def test_an_unreadable_record_is_a_silent_miss(storage: Path) -> None:
    """A record that no longer deserializes re-runs the body (and is overwritten)."""
    key = _unique("unreadable")
    storage.mkdir(parents=True, exist_ok=True)
    (storage / key).write_text("not a result record")

    @task(cache_key_fn=_key, persist_result=True)
    async def body(key: str) -> str:
        return "fresh"

    @flow
    async def run(key: str) -> State[Any]:
        return await body(key, return_state=True)

    state = await run(key)
    assert state.name == "Completed"
    assert json.loads((storage / key).read_text())["metadata"]["storage_key"].endswith(key)


async def test_failed_runs_do_not_fill_the_cache(storage: Path) -> None:
    """A failed submit is not remembered: the next call with the same key runs the body.

    Raised failures never populate the key. A *returned* ``Failed`` state did up to Prefect 3.8
    (the next call came back ``Cached``, the failure restored); 3.9 treats it like a raised one.
    """
    raised, returned = _unique("raised"), _unique("returned")

    @task(cache_key_fn=_key, persist_result=True)
    async def body(key: str, outcome: str) -> Any:
        if outcome == "raise":
            raise RuntimeError("submission failed")
        if outcome == "return":
            return Failed(message="submission failed")
        return "ok"

    @flow
    async def run(key: str, outcome: str) -> str:
        return (await body(key, outcome, return_state=True)).name

    assert [await run(raised, "raise"), await run(raised, "ok")] == ["Failed", "Completed"]
    after_returned = "Completed" if PREFECT_VERSION >= Version("3.9") else "Cached"
    assert [await run(returned, "return"), await run(returned, "ok")] == ["Failed", after_returned]


async def test_refresh_cache_reruns_a_cached_task() -> None:
    """``refresh_cache`` (task option or setting) re-runs the body: the library reads both."""
    key = _unique("refresh")
    seen: list[tuple[bool, bool]] = []

    @task(cache_key_fn=_key, persist_result=True)
    async def body(key: str) -> None:
        task_ctx = TaskRunContext.get()
        assert task_ctx is not None
        seen.append((bool(task_ctx.task.refresh_cache), bool(PREFECT_TASKS_REFRESH_CACHE.value())))

    @flow
    async def run(key: str, refresh_option: bool) -> str:
        runnable = body.with_options(refresh_cache=True) if refresh_option else body
        return (await runnable(key, return_state=True)).name

    assert await run(key, False) == "Completed"
    assert await run(key, False) == "Cached"
    assert await run(key, True) == "Completed"
    with temporary_settings(updates={PREFECT_TASKS_REFRESH_CACHE: True}):
        assert await run(key, False) == "Completed"
    assert seen == [(False, False), (True, False), (False, True)]


# --------------------------------------------------------------------------- result store


async def test_result_store_writes_reads_and_checks_records_by_key(tmp_path: Path) -> None:
    """The result-store API: ``awrite``/``aread``/``aexists`` by key; no delete exists.

    A record written with an expiration in the past stays on disk but counts as absent.
    """
    store = ResultStore(result_storage=LocalFileSystem(basepath=str(tmp_path)))
    await store.awrite({"job_id": "d1"}, key="live")
    assert await store.aexists("live")
    assert (await store.aread("live")).result == {"job_id": "d1"}
    assert (tmp_path / "live").is_file()

    await store.awrite({"job_id": "d2"}, key="gone", expiration=datetime.now(UTC) - timedelta(1))
    assert (tmp_path / "gone").is_file()
    assert not await store.aexists("gone")
    assert not store.exists("gone")
    assert not await store.aexists("never-written")


async def test_overwriting_a_cached_record_with_a_past_expiration_invalidates_it(
    storage: Path,
) -> None:
    """How a stale submit-cache entry can be invalidated through Prefect's own API.

    The task's result store (``TaskRunContext.result_store``) writes into the same storage the
    cache reads; an expired record there makes the next call run the body again.
    """
    key = _unique("invalidate")
    runs: list[int] = []

    @task(cache_key_fn=_key, persist_result=True)
    async def body(key: str) -> int:
        runs.append(1)
        return len(runs)

    @task(cache_policy=NO_CACHE)
    async def invalidate(key: str) -> str:
        task_ctx = TaskRunContext.get()
        assert task_ctx is not None
        store = task_ctx.result_store
        await store.awrite(None, key=key, expiration=datetime.now(UTC) - timedelta(seconds=1))
        return str(type(store.result_storage).__name__)

    @flow
    async def run(key: str, *, invalidate_first: bool = False) -> str:
        if invalidate_first:
            assert await invalidate(key) == "LocalFileSystem"
        return (await body(key, return_state=True)).name

    assert [await run(key), await run(key)] == ["Completed", "Cached"]
    assert await run(key, invalidate_first=True) == "Completed"
    assert await run(key) == "Cached"
    assert len(runs) == 2
    assert _files(storage) == [key]


async def test_a_rebuilt_store_invalidates_an_entry_in_block_and_key_storage(
    tmp_path: Path,
) -> None:
    """Invalidation from another task: a ``ResultStore`` rebuilt from a saved block's id and a
    key-storage path overwrites the entry with an expired record; the next call is a miss."""
    block_name = _unique("results")
    block_id = await LocalFileSystem(basepath=str(tmp_path / "results")).asave(block_name)
    key_dir = tmp_path / "keys"
    policy = CacheKeyFnPolicy(cache_key_fn=_key).configure(key_storage=str(key_dir))
    runs: list[int] = []

    slug = f"local-file-system/{block_name}"

    @task(cache_policy=policy, persist_result=True, result_storage=slug)
    async def body(key: str) -> int:
        runs.append(1)
        return len(runs)

    @flow
    async def run(key: str) -> str:
        return (await body(key, return_state=True)).name

    key = _unique("keyed")
    assert [await run(key), await run(key)] == ["Completed", "Cached"]
    assert _files(key_dir) == [key]
    store = ResultStore(
        result_storage=await aresolve_result_storage(block_id),
        metadata_storage=await aresolve_result_storage(key_dir),
    )
    await store.awrite(None, key=key, expiration=datetime.now(UTC) - timedelta(seconds=1))
    assert not await store.aexists(key)
    assert await run(key) == "Completed"
    assert len(runs) == 2


async def test_default_result_storage_is_the_local_storage_path(storage: Path) -> None:
    """The fetch step finds persisted records under the default storage's ``basepath``."""
    default = await aget_default_result_storage()
    assert isinstance(default, LocalFileSystem)
    assert Path(str(default.basepath)).expanduser().resolve() == storage.resolve()


async def test_default_storage_block_setting_persists_into_a_saved_block(
    tmp_path: Path, storage: Path
) -> None:
    """``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`` moves the cache into a saved file-system block."""
    block_name = _unique("block")
    block_dir = tmp_path / "block-storage"
    await LocalFileSystem(basepath=str(block_dir)).asave(block_name)
    key = _unique("blocked")

    @task(cache_key_fn=_key, persist_result=True)
    async def body(key: str) -> str:
        task_ctx = TaskRunContext.get()
        assert task_ctx is not None
        return str(getattr(task_ctx.result_store.result_storage, "basepath", None))

    @flow
    async def run(key: str) -> State[Any]:
        return await body(key, return_state=True)

    setting = {PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: f"local-file-system/{block_name}"}
    with temporary_settings(updates=setting):
        state = await run(key)
        assert (await aget_default_result_storage())._block_document_name == block_name
    assert state.name == "Completed"
    assert Path(await state.result()).resolve() == block_dir.resolve()
    assert key in _files(block_dir)  # beside it, the flow's own result
    assert _files(storage) == []


def test_serializers_resolve_by_type_string() -> None:
    """Our serializer registers itself by its ``type``; unknown names raise."""
    assert resolve_serializer("qiskit-runtime-json").type == "qiskit-runtime-json"
    assert resolve_serializer("compressed/pickle").type == "compressed/pickle"
    with pytest.raises(ValueError):
        resolve_serializer("no-such-serializer")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- retries


def _retry_always(task: Any, task_run: Any, state: State[Any]) -> bool:
    return True


def _retry_if(flag: bool, task: Any, task_run: Any, state: State[Any]) -> bool:
    return flag


async def _aretry_on_value_error(task: Any, task_run: Any, state: State[Any]) -> bool:
    return isinstance(state.data, ValueError)


async def _attempts(condition: Any) -> int:
    attempts: list[int] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=condition, cache_policy=NO_CACHE)
    async def failing() -> None:
        attempts.append(1)
        raise ValueError("always")

    @flow
    async def run() -> str:
        return (await failing(return_state=True)).name

    assert await run() == "Failed"
    return len(attempts)


async def test_retry_condition_functions() -> None:
    """``should_retry_qiskit_fetch_failure`` is a plain function, honoured on every version.

    A plain or async function decides each retry and receives the raised exception as
    ``state.data``. A ``functools.partial`` silently disabled retries up to Prefect 3.8; 3.9
    calls any callable.
    """
    assert await _attempts(_retry_always) == 3
    assert await _attempts(_aretry_on_value_error) == 3
    partial_attempts = await _attempts(functools.partial(_retry_if, True))
    assert partial_attempts == (3 if PREFECT_VERSION >= Version("3.9") else 1)


def test_get_state_exception_reads_a_failed_state_synchronously() -> None:
    """The retry classifier reads a failed state's exception with ``_sync=True``."""
    error = ValueError("boom")
    assert get_state_exception(Failed(data=error), _sync=True) is error  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        get_state_exception(Completed(data=1), _sync=True)  # type: ignore[call-arg]


def test_run_coro_as_sync_without_a_running_loop() -> None:
    """The sync wrappers run their coroutines with ``run_coro_as_sync``."""
    assert run_coro_as_sync(asyncio.sleep(0, result="value")) == "value"


async def test_run_coro_as_sync_inside_a_running_loop() -> None:
    """Called from code that already runs an event loop, it still returns the value."""
    assert run_coro_as_sync(asyncio.sleep(0, result="value")) == "value"


# --------------------------------------------------------------------------- contexts, artifacts


def test_no_run_context_outside_a_run() -> None:
    """Blocks and artifacts decide whether they run inside Prefect by these contexts."""
    assert FlowRunContext.get() is None
    assert TaskRunContext.get() is None


async def test_async_artifact_functions_create_readable_artifacts() -> None:
    """The progress, markdown and table artifacts the library writes, read back."""
    keys = {kind: _unique(kind) for kind in ("progress", "markdown", "table")}

    @task(cache_policy=NO_CACHE)
    async def record(keys: dict[str, str]) -> None:
        artifact_id = await acreate_progress_artifact(0.0, key=keys["progress"])
        await aupdate_progress_artifact(artifact_id, 100.0)
        await acreate_markdown_artifact("**done**", key=keys["markdown"])
        await acreate_table_artifact([{"pub": 0, "shots": 100}], key=keys["table"])

    @flow
    async def run(keys: dict[str, str]) -> None:
        await record(keys)

    await run(keys)
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=list(keys.values())))
        )
    data = {artifact.key: artifact.data for artifact in artifacts}
    assert data[keys["progress"]] == 100.0
    assert data[keys["markdown"]] == "**done**"
    assert json.loads(str(data[keys["table"]])) == [{"pub": 0, "shots": 100}]


async def test_a_hook_appended_to_the_running_flow_runs_when_the_flow_run_ends() -> None:
    """The library closes a flow run's Batch/Session (execution_modes._register_close_hook) by
    appending an async hook, while the flow runs, to the running `Flow` object's
    ``on_completion_hooks``, ``on_failure_hooks`` and ``on_cancellation_hooks`` lists. Prefect
    must read those lists when the run ends, not a copy taken when it started; the running
    object is the user's own, so the hook stays on it (the library appends it only once)."""
    ended: list[tuple[UUID, str]] = []

    async def close_hook(flow: Any, flow_run: Any, state: Any) -> None:
        ended.append((flow_run.id, state.type.value))

    def append_hook() -> UUID:
        context = FlowRunContext.get()
        assert context is not None and context.flow is not None and context.flow_run is not None
        running = context.flow
        for hooks in (
            running.on_completion_hooks,
            running.on_failure_hooks,
            running.on_cancellation_hooks,
        ):
            if close_hook not in hooks:
                hooks.append(close_hook)
        return context.flow_run.id

    @flow
    async def completes() -> UUID:
        return append_hook()

    @flow
    async def fails() -> None:
        ended.append((append_hook(), "appended"))
        raise ValueError("the flow fails after appending the hook")

    first = await completes()
    assert ended == [(first, "COMPLETED")]
    assert completes.on_completion_hooks == [close_hook]  # kept on the user's object
    second = await completes()
    assert ended[-1] == (second, "COMPLETED") and len(ended) == 2  # once per run, not twice
    with pytest.raises(ValueError):
        await fails()
    failed_run = ended[-1][0]
    assert ended[-2:] == [(failed_run, "appended"), (failed_run, "FAILED")]
