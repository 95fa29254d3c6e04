"""The submit lock across processes: flock by default, PostgreSQL advisory locks by URL.

The PostgreSQL tests run a private PostgreSQL 15 cluster (the stack's `Postgres` helper, as the
``postgres`` user when run as root) on a free loopback port.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from pydantic import SecretStr
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    JobReference,
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    qiskit_sampler_submit_cache_key,
    submit_sampler_job_task,
)
from qcsc_prefect.integrations.qiskit.cache import idempotency_tag
from qcsc_prefect.integrations.qiskit.errors import SubmitLockError
from qcsc_prefect.integrations.qiskit.locking import LOCK_URL_ENV, submit_lock_for
from qcsc_prefect.integrations.qiskit.submit import RECONCILE_DELAYS

REPO = Path(__file__).resolve().parents[2]

#: The bound promised for a dead holder's lock (docs/locking.md); a killed process is far faster.
DEAD_HOLDER_BOUND = 30.0


@pytest.fixture(scope="module")
def lock_url() -> Any:
    import qcsc_stack as stack

    try:
        stack.find_pg_bindir(install=True)
    except stack.StackError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    base = Path(tempfile.mkdtemp(prefix="qcsc-lock-"))
    base.chmod(0o755)  # the server runs as `postgres` when the tests run as root
    postgres = stack.Postgres(base / "pg", stack.free_port())
    password = secrets.token_hex(12)
    postgres.init()
    postgres.start()
    try:
        postgres.ensure_database("locks", "locker", password)
        yield f"postgresql://locker:{password}@127.0.0.1:{postgres.port}/locks"
    finally:
        postgres.stop()


_HOLDER = """
import asyncio, sys
from qcsc_prefect.integrations.qiskit.locking import submit_lock_for

async def main():
    lease = await submit_lock_for(sys.argv[1]).acquire(sys.argv[2], timeout=30)
    print("held" if lease else "missed", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def _start_holder(url: str, key: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url, key], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


async def test_postgres_lock_excludes_other_processes_and_dies_with_its_holder(
    lock_url: str,
) -> None:
    lock = submit_lock_for(lock_url)
    key = f"test-{secrets.token_hex(4)}"
    holder = _start_holder(lock_url, key)
    try:
        assert await lock.acquire(key, timeout=1.0) is None
        description = await lock.holder(key)
        assert description is not None and f"pid {holder.pid}" in description
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    started = time.monotonic()
    lease = await lock.acquire(key, timeout=DEAD_HOLDER_BOUND)
    released_after = time.monotonic() - started
    assert lease is not None, "a SIGKILLed holder's lock was never released"
    assert released_after < DEAD_HOLDER_BOUND
    await lease.confirm()
    # Two submitters in one process exclude each other too (advisory locks are re-entrant per
    # session, the lock's own table is not).
    assert await lock.acquire(key, timeout=0.3) is None
    lease.release()
    lease.release()  # idempotent
    again = await lock.acquire(key, timeout=5.0)
    assert again is not None
    again.release()


async def test_flock_is_the_default_and_excludes_other_processes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    monkeypatch.setenv("QCSC_QISKIT_LOCK_DIR", str(tmp_path))
    lock = submit_lock_for(None)
    assert lock.description.startswith("flock")
    holder = _start_holder("flock", "flock-key")
    try:
        assert await lock.acquire("flock-key", timeout=0.5) is None
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lease = await lock.acquire("flock-key", timeout=5.0)
    assert lease is not None
    lease.release()


@pytest.mark.parametrize("where", ["block", "environment"])
async def test_unreachable_lock_refuses_before_posting(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    password = secrets.token_hex(8)
    url = f"postgresql://nobody:{password}@127.0.0.1:9/locks"  # discard port: nothing listens
    config = QiskitRuntimeConfig(backend_name="ibm_fez")
    if where == "block":
        config = QiskitRuntimeConfig(backend_name="ibm_fez", lock_url=SecretStr(url))
    else:
        monkeypatch.setenv(LOCK_URL_ENV, url)

    @flow
    async def submit_under_unreachable_lock() -> None:
        await submit_sampler_job_task([isa_bell], runtime_config=config, shots=77)

    caplog.set_level(logging.DEBUG)
    with pytest.raises(SubmitLockError) as raised:
        await submit_under_unreachable_lock()
    assert "nothing was submitted" in str(raised.value)
    assert "127.0.0.1:9/locks" in str(raised.value)
    assert runtime_emulator.control.job_count() == 0
    assert password not in str(raised.value)
    assert password not in caplog.text
    assert password not in repr(config)


def test_unknown_lock_scheme_is_refused() -> None:
    with pytest.raises(SubmitLockError, match="no supported backend") as raised:
        submit_lock_for("redis://user:pw-secret@127.0.0.1:6379/0")
    assert "pw-secret" not in str(raised.value)


async def test_holders_in_one_process_on_different_loops(lock_url: str) -> None:
    """Prefect may run async tasks on other event loops: the lock works from any of them."""
    key = f"loops-{secrets.token_hex(4)}"

    def hold_in_new_loop() -> bool:
        async def take() -> bool:
            lease = await submit_lock_for(lock_url).acquire(key, timeout=5.0)
            if lease is None:
                return False
            lease.release()
            return True

        return asyncio.run(take())

    results = await asyncio.gather(*(asyncio.to_thread(hold_in_new_loop) for _ in range(4)))
    assert all(results)


async def test_concurrent_submitters_in_one_process_get_one_lease_and_leave_no_lock(
    lock_url: str,
) -> None:
    """Advisory locks are re-entrant per session: the process's own table must exclude too.

    Several submitters of one process ask for the same key at once, on one connection; exactly
    one may hold it, and once every lease is released no lock is left on the server.
    """
    import asyncpg

    key = f"same-process-{secrets.token_hex(4)}"
    lock = submit_lock_for(lock_url)
    leases = await asyncio.gather(*(lock.acquire(key, timeout=0.0) for _ in range(4)))
    held = [lease for lease in leases if lease is not None]
    for lease in held:
        lease.release()
    assert len(held) == 1
    observer = await asyncpg.connect(lock_url)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = await observer.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            )
            if left == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await observer.close()
    assert left == 0, "a released lock was left held on the server"


# ------------------------------------------------------------------ a lock lost before posting

#: The submitter's job-tag lookup (the job list) and its post, as the emulator routes them.
TAG_LOOKUP = r"/jobs$"
#: How long the submitter pauses before posting again after the refused post (Retry-After).
REPOST_PAUSE = 5


async def _pausing_before_reposting(runtime_emulator: Any) -> None:
    """Wait until the submitter's post was refused, its tag lookups found nothing, and it
    pauses (lock held) before posting again."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = await asyncio.to_thread(runtime_emulator.control.log)
        calls = [
            (entry["method"], entry.get("status"))
            for entry in log
            if entry.get("kind") != "control" and re.search(TAG_LOOKUP, entry["path"])
        ]
        if ("POST", 429) in calls:
            after = calls[calls.index(("POST", 429)) + 1 :]
            if after.count(("GET", 200)) == len(RECONCILE_DELAYS):
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the submitter never paused before posting again")


async def _held_lock_number(observer: Any) -> int:
    """The advisory lock the submitter holds, as ``pg_advisory_lock`` takes it."""
    unsigned = await observer.fetchval(
        "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
        "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
    )
    assert unsigned is not None, "the submitter holds no lock"
    return int(unsigned) - (1 << 64) if unsigned >= 1 << 63 else int(unsigned)


def _post_tagged(runtime_emulator: Any, circuit: QuantumCircuit, shots: int, tag: str) -> str:
    """Another host's submission of the same input: a native job carrying the same tag."""
    from qiskit_ibm_runtime import SamplerV2

    sampler = SamplerV2(mode=runtime_emulator.service().backend("ibm_fez"))
    sampler.options.environment.job_tags = [tag]
    return str(sampler.run([circuit], shots=shots).job_id())


@pytest.mark.parametrize("taken_over", [False, True], ids=["nobody-else", "another-host-posts"])
async def test_a_lock_lost_before_posting_is_taken_again_and_the_tag_looked_up_again(
    lock_url: str,
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    caplog: pytest.LogCaptureFixture,
    taken_over: bool,
) -> None:
    """The lock's session ends between the tag lookup and the post: never post under it.

    The window: the first post is refused (429), the tag lookups find nothing, and the
    submitter pauses before posting again, lock held. Its session is terminated then (as the
    server does to a host it lost), and in one variant another host takes the lock over and
    posts. The submitter must notice before posting, take the lock again and look the tag up
    again: it adopts the other host's job, or posts exactly one itself.
    """
    import asyncpg

    shots = 95 if taken_over else 94
    config = QiskitRuntimeConfig(backend_name="ibm_fez", lock_url=SecretStr(lock_url))
    digest = build_qiskit_sampler_input_digest(
        [isa_bell], backend_name="ibm_fez", shots=shots, cache_scope="global"
    )
    submit = submit_sampler_job_task.with_options(cache_key_fn=qiskit_sampler_submit_cache_key)

    @flow
    async def submit_once() -> JobReference:
        return await submit([isa_bell], runtime_config=config, shots=shots, input_digest=digest)

    refusal = {"status": 429, "headers": {"Retry-After": str(REPOST_PAUSE)}}
    runtime_emulator.control.add_fault("POST", TAG_LOOKUP, refusal, times=1)
    runtime_emulator.control.clear_log()
    caplog.set_level(logging.INFO)
    observer = await asyncpg.connect(lock_url)
    other_job = None
    try:
        running = asyncio.ensure_future(submit_once())
        await _pausing_before_reposting(runtime_emulator)
        number = await _held_lock_number(observer)
        terminated = await observer.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
        )
        if taken_over:  # another host takes the lock over and posts the job
            await observer.execute("SELECT pg_advisory_lock($1)", number)
            tag = idempotency_tag("sampler-submit", digest)
            other_job = await asyncio.to_thread(
                _post_tagged, runtime_emulator, isa_bell, shots, tag
            )
            await observer.execute("SELECT pg_advisory_unlock($1)", number)
        reference = await asyncio.wait_for(running, 90)
    finally:
        await observer.close()
    jobs = runtime_emulator.control.jobs()
    assert terminated == 1
    assert [job["id"] for job in jobs] == [reference.job_id]
    assert reference.reused == taken_over
    if taken_over:
        assert reference.job_id == other_job
    assert "was lost before posting" in caplog.text


async def test_a_frozen_holder_is_named_after_the_lock_wait_and_a_rerun_after_its_death_completes(
    lock_url: str,
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    worker_env: dict[str, str],
    start_worker: Any,
) -> None:
    """A holder stopped with SIGSTOP keeps its lock (PostgreSQL keeps the session alive).

    Another submitter of the same input waits ``$QCSC_QISKIT_LOCK_TIMEOUT`` seconds, then fails
    without posting and names the holder; once the holder is killed a rerun completes.
    """
    from qcsc_prefect.integrations.qiskit._identity import SubmissionIdentity

    # The worker's own input: the same Bell circuit, 64 shots, global scope.
    digest = build_qiskit_sampler_input_digest(
        [isa_bell], backend_name="ibm_fez", shots=64, cache_scope="global"
    )
    tag = idempotency_tag("sampler-submit", digest)
    lock_key = SubmissionIdentity(key=digest, tag=tag, earlier_attempt_possible=True).lock_key
    worker_env.update({LOCK_URL_ENV: lock_url, "QCSC_QISKIT_LOCK_TIMEOUT": "3"})
    holder = _start_holder(lock_url, lock_key)
    try:
        holder.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        waiter = start_worker("--scope", "global", "--shots", "64")
        _, stderr = waiter.communicate(timeout=120)
        assert waiter.returncode != 0
        assert f"pid {holder.pid}" in stderr  # the holder, named
        assert "for over 3 s; nothing was submitted" in stderr
        assert time.monotonic() - started < 60
        assert runtime_emulator.control.job_count() == 0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    rerun = start_worker("--scope", "global", "--shots", "64")
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr[-2000:]
    assert '"event": "submitted"' in stdout
    assert runtime_emulator.control.job_count() == 1
