"""The client pool: stalled (abandoned) calls never starve unrelated calls, and every wait ends."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from qcsc_prefect.integrations.qiskit._runtime import pool
from qcsc_prefect.integrations.qiskit._runtime.pool import (
    MAX_CLIENT_THREADS,
    MAX_TOTAL_CLIENT_THREADS,
    call_blocking,
    call_blocking_bounded,
    client_pool_stats,
    start_blocking,
    wait_bounded,
)
from qcsc_prefect.integrations.qiskit.errors import NO_RESPONSE, RuntimeApiError


@pytest.fixture
def stall() -> Iterator[threading.Event]:
    """An event stalled calls wait on; set at the end so their threads finish."""
    release = threading.Event()
    yield release
    release.set()
    deadline = time.monotonic() + 10
    while client_pool_stats().abandoned and time.monotonic() < deadline:
        time.sleep(0.01)


async def test_stalled_calls_do_not_block_an_unrelated_call(stall: threading.Event) -> None:
    stalled = MAX_CLIENT_THREADS + 4  # more than the old fixed pool had threads
    for _ in range(stalled):
        with pytest.raises(RuntimeApiError) as info:
            await call_blocking_bounded(0.05, "a stalled call", stall.wait)
        assert info.value.http_status == NO_RESPONSE
    assert client_pool_stats().abandoned == stalled

    started = time.monotonic()
    assert await call_blocking_bounded(5.0, "an unrelated call", lambda: 42) == 42
    assert time.monotonic() - started < 1.0

    stats = client_pool_stats()
    assert stats.running == 0 and stats.queued == 0
    assert stats.threads <= stalled + MAX_CLIENT_THREADS


async def test_a_call_that_never_started_is_cancelled_not_run_later(
    stall: threading.Event,
) -> None:
    busy = [start_blocking(stall.wait) for _ in range(MAX_CLIENT_THREADS)]
    ran = threading.Event()
    with pytest.raises(RuntimeApiError):
        await call_blocking_bounded(0.05, "a queued call", ran.set)
    # The stalled calls are still watched (nobody gave up on them): they hold the capacity.
    assert client_pool_stats().running == MAX_CLIENT_THREADS
    stall.set()
    await asyncio.gather(*(wait_bounded(future, 5.0, "a busy call") for future in busy))
    await call_blocking(time.sleep, 0.05)
    assert not ran.is_set()


async def test_an_abandoned_future_still_completes_for_its_owner(stall: threading.Event) -> None:
    future = start_blocking(lambda: stall.wait() and "posted")
    with pytest.raises(RuntimeApiError, match="did not answer the job submission"):
        await wait_bounded(future, 0.05, "the job submission")
    assert not future.done()
    stall.set()
    assert await wait_bounded(future, 5.0, "the job submission") == "posted"


async def test_errors_reach_the_caller() -> None:
    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await call_blocking(fails)


async def test_the_hard_cap_refuses_new_calls_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, stall: threading.Event
) -> None:
    cap = MAX_CLIENT_THREADS + 2
    monkeypatch.setattr(pool, "MAX_TOTAL_CLIENT_THREADS", cap)
    for _ in range(cap):
        with pytest.raises(RuntimeApiError):
            await call_blocking_bounded(0.05, "a stalled call", stall.wait)
    assert client_pool_stats().threads <= cap
    with pytest.raises(RuntimeApiError, match="hard cap") as info:
        await call_blocking(lambda: None)
    assert info.value.http_status == NO_RESPONSE
    assert MAX_TOTAL_CLIENT_THREADS > MAX_CLIENT_THREADS


async def test_a_cancelled_waiter_abandons_its_call(stall: threading.Event) -> None:
    started = threading.Event()

    def stalled() -> None:
        started.set()
        stall.wait()

    waiter = asyncio.ensure_future(call_blocking(stalled))
    await asyncio.to_thread(started.wait, 5)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    stats = client_pool_stats()
    assert stats.abandoned == 1 and stats.running == 0


async def test_posting_calls_queue_behind_the_calls_of_waiting_jobs() -> None:
    # Every worker is busy; a post is queued first, a status read after it. When one worker
    # frees up, it runs the status read (a job already waiting) first, then the post.
    gates = [threading.Event() for _ in range(MAX_CLIENT_THREADS)]
    order: list[str] = []
    running = [start_blocking(gate.wait) for gate in gates]
    deadline = time.monotonic() + 5
    while client_pool_stats().running < MAX_CLIENT_THREADS and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    with pool.behind_waiting_calls():
        post = start_blocking(order.append, "post")
    read = start_blocking(order.append, "status read")
    gates[0].set()
    await asyncio.gather(asyncio.wrap_future(post), asyncio.wrap_future(read))
    for gate in gates:
        gate.set()
    await asyncio.gather(*(asyncio.wrap_future(f) for f in running))
    assert order == ["status read", "post"]
