"""The submit lock across processes: flock by default, PostgreSQL advisory locks by URL.

The PostgreSQL tests run a private PostgreSQL 15 cluster (the stack's `Postgres` helper, as the
``postgres`` user when run as root) on a free loopback port.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prefect import flow
from pydantic import SecretStr
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import QiskitRuntimeConfig, submit_sampler_job_task
from qcsc_prefect.integrations.qiskit.errors import SubmitLockError
from qcsc_prefect.integrations.qiskit.locking import LOCK_URL_ENV, submit_lock_for

REPO = Path(__file__).resolve().parents[2]

#: The bound promised for a dead holder's lock (docs/locking.md); a killed process is far faster.
DEAD_HOLDER_BOUND = 30.0


def _stack_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "qcsc_stack_for_lock", REPO / "stack" / "stack.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lock_url() -> Any:
    stack = _stack_module()
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
