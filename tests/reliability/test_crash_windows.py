"""Scenario 1: kill -9 the flow process in every crash window, then rerun the same flow.

Each rerun must find exactly one job, return that job's result, and never wait on a lock that a
dead process held. The worker kills itself with SIGKILL from inside the library's own native
call (see ``crash_worker.py``), so the crash lands exactly in the window under test.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

WORKER_TIMEOUT = 240.0
RERUN_BOUND = 90.0  # seconds: a rerun slower than this is "waiting on something dead"


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _assert_killed(worker: Any) -> None:
    assert worker.process.returncode == -signal.SIGKILL, worker.stderr[-3000:]


def _rerun_and_check(
    start_worker: Callable[..., Any],
    scenario: Any,
    job_id: str,
    *args: str,
    shots: int,
) -> dict[str, Any]:
    started = time.monotonic()
    rerun = start_worker(*args, "--fetch").finish(timeout=WORKER_TIMEOUT)
    took = time.monotonic() - started
    assert rerun.process.returncode == 0, rerun.stderr[-3000:]
    assert took < RERUN_BOUND, f"rerun took {took:.0f} s"
    submitted, fetched = rerun.events()[-2:]
    assert submitted["event"] == "submitted" and submitted["job_id"] == job_id
    assert fetched["event"] == "fetched" and fetched["job_id"] == job_id
    scenario.result(
        sum(fetched["counts"].values()) == shots and set(fetched["counts"]) == {"00", "11"}
    )
    return fetched


@pytest.mark.parametrize(
    ("scope", "api"),
    [
        ("global", "v2"),
        ("global", "executor"),
        pytest.param("flow", "v2", marks=pytest.mark.slow),
    ],
)
def test_kill_after_post_before_prefect_stored_it(
    runtime_emulator: Any, start_worker: Callable[..., Any], scenario: Any, scope: str, api: str
) -> None:
    shots = {"global": 31, "flow": 32}[scope] + (100 if api == "executor" else 0)
    args = ("--scope", scope, "--shots", str(shots), "--api", api)
    victim = start_worker(*args, "--crash-at", "after-post").finish(timeout=WORKER_TIMEOUT)
    _assert_killed(victim)
    (posted,) = [e for e in victim.events() if e["event"] == "posted"]
    assert runtime_emulator.control.job_count() == 1

    _rerun_and_check(start_worker, scenario, posted["job_id"], *args, shots=shots)
    jobs = scenario.jobs()
    assert [job["id"] for job in jobs] == [posted["job_id"]]


@pytest.mark.slow
def test_kill_after_post_with_client_duplicate_pending(
    runtime_emulator: Any, start_worker: Callable[..., Any], scenario: Any
) -> None:
    """The client's own POST retry left two jobs, and the process died before de-duplicating.

    The rerun must pick the earliest job and cancel the other one before it ever runs.
    """
    control = runtime_emulator.control
    control.configure(paused=True)
    control.add_fault("POST", r"/jobs$", {"create_then_status": 502})
    args = ("--shots", "33")
    victim = start_worker(*args, "--crash-at", "after-post").finish(timeout=WORKER_TIMEOUT)
    _assert_killed(victim)
    jobs = control.jobs()
    assert len(jobs) == 2 and all(job["status"] == "Queued" for job in jobs)
    earliest = min(jobs, key=lambda job: (job["created"], job["id"]))

    rerun = start_worker(*args, "--fetch")
    wait_until(lambda: sum(j["status"] == "Cancelled" for j in control.jobs()) == 1, 120)
    control.configure(paused=False)
    rerun.finish(timeout=WORKER_TIMEOUT)
    assert rerun.process.returncode == 0, rerun.stderr[-3000:]
    fetched = rerun.events()[-1]
    assert fetched["job_id"] == earliest["id"]
    scenario.result(sum(fetched["counts"].values()) == 33)
    jobs = scenario.jobs()
    assert len(jobs) == 2
    (cancelled,) = [job for job in jobs if job["status"] == "Cancelled"]
    assert cancelled["running"] is None, "the duplicate ran before it was cancelled"


@pytest.mark.slow
def test_kill_while_polling(
    runtime_emulator: Any, start_worker: Callable[..., Any], scenario: Any
) -> None:
    control = runtime_emulator.control
    control.configure(queue_delay=2.0)
    args = ("--shots", "34")
    victim = start_worker(*args, "--fetch", "--crash-at", "polling").finish(timeout=WORKER_TIMEOUT)
    _assert_killed(victim)
    (polling,) = [e for e in victim.events() if e["event"] == "polling"]
    _rerun_and_check(start_worker, scenario, polling["job_id"], *args, shots=34)
    assert len(scenario.jobs()) == 1


@pytest.mark.slow
def test_kill_while_holding_the_submit_lock(
    runtime_emulator: Any, start_worker: Callable[..., Any], scenario: Any
) -> None:
    """A holder dies inside the lock: nothing was posted; the rerun submits once, promptly."""
    args = ("--shots", "35")
    victim = start_worker(*args, "--crash-at", "in-lock").finish(timeout=WORKER_TIMEOUT)
    _assert_killed(victim)
    assert [e["event"] for e in victim.events()] == ["locked"]
    assert runtime_emulator.control.job_count() == 0

    started = time.monotonic()
    rerun = start_worker(*args, "--fetch").finish(timeout=WORKER_TIMEOUT)
    assert rerun.process.returncode == 0, rerun.stderr[-3000:]
    assert time.monotonic() - started < RERUN_BOUND
    submitted, fetched = rerun.events()
    assert not submitted["reused"]
    scenario.result(sum(fetched["counts"].values()) == 35)
    (job,) = scenario.jobs()
    assert job["id"] == fetched["job_id"]


@pytest.mark.parametrize("api", ["v2", pytest.param("executor", marks=pytest.mark.slow)])
def test_waiter_proceeds_when_the_lock_holder_is_killed(
    runtime_emulator: Any, start_worker: Callable[..., Any], scenario: Any, api: str
) -> None:
    """A second submitter waits on a live holder; kill -9 the holder: the waiter goes on."""
    shots = 36 if api == "v2" else 136
    args = ("--shots", str(shots), "--api", api)
    holder = start_worker(*args, "--crash-at", "hang-in-lock")
    wait_until(lambda: '"locked"' in _peek(holder), 120)
    waiter = start_worker(*args, "--fetch")
    # The waiter must be blocked on the lock (not submitting) while the holder lives.
    time.sleep(8)
    assert waiter.process.poll() is None
    assert runtime_emulator.control.job_count() == 0
    holder.process.send_signal(signal.SIGKILL)
    holder.process.wait()
    killed_at = time.monotonic()
    waiter.finish(timeout=WORKER_TIMEOUT)
    assert waiter.process.returncode == 0, waiter.stderr[-3000:]
    assert time.monotonic() - killed_at < RERUN_BOUND
    fetched = waiter.events()[-1]
    scenario.result(sum(fetched["counts"].values()) == shots)
    (job,) = scenario.jobs()
    assert job["id"] == fetched["job_id"]


@pytest.mark.slow
def test_kill_after_result_before_prefect_persisted_it(
    runtime_emulator: Any, start_worker: Callable[..., Any], scenario: Any
) -> None:
    args = ("--shots", "37", "--cache-result")
    victim = start_worker(*args, "--fetch", "--crash-at", "after-result").finish(
        timeout=WORKER_TIMEOUT
    )
    _assert_killed(victim)
    (downloaded,) = [e for e in victim.events() if e["event"] == "downloaded"]
    fetched = _rerun_and_check(start_worker, scenario, downloaded["job_id"], *args, shots=37)
    assert fetched["state"] == "Completed"  # nothing was persisted: fetched again, same job
    # A third run restores the persisted result without a new job.
    third = start_worker(*args, "--fetch").finish(timeout=WORKER_TIMEOUT)
    assert third.process.returncode == 0, third.stderr[-3000:]
    assert third.events()[-1]["state"] == "Cached"
    assert third.events()[-1]["counts"] == fetched["counts"]
    (job,) = scenario.jobs()
    assert job["id"] == downloaded["job_id"]


def _peek(worker: Any) -> str:
    """Read what a running worker printed so far, without waiting for it to exit."""
    import os
    import select

    stream = worker.process.stdout
    chunks = []
    while select.select([stream], [], [], 0)[0]:
        data = os.read(stream.fileno(), 65536)
        if not data:
            break
        chunks.append(data.decode())
    worker.stdout += "".join(chunks)
    return worker.stdout
