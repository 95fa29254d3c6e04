"""`AtomicLocalFileSystem` as a real Prefect Block and as the stack's shared result storage."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prefect import flow
from prefect.results import ResultStore
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK,
    temporary_settings,
)
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    AtomicLocalFileSystem,
    JobReference,
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    submit_sampler_job_task,
)

if TYPE_CHECKING:
    pass

FEZ = "ibm_fez"


# Prefect's Block standards suite runs on AtomicLocalFileSystem in test_blocks.py.


def _temporary_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp"))


async def test_writes_replace_the_whole_file_and_leave_nothing_behind(tmp_path: Path) -> None:
    storage = AtomicLocalFileSystem(basepath=str(tmp_path / "results"))
    written = await storage.awrite_path("nested/record", b"first version, longer")
    assert written == str(tmp_path / "results" / "nested" / "record")
    assert await storage.aread_path("nested/record") == b"first version, longer"
    storage.write_path("nested/record", b"second", _sync=True)  # Prefect's sync call
    assert await storage.aread_path("nested/record") == b"second"
    assert _temporary_files(tmp_path / "results" / "nested") == []
    mode = stat.S_IMODE(os.stat(written).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask, "permissions differ from a plain open()"


async def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    storage = AtomicLocalFileSystem(basepath=str(tmp_path))
    await storage.awrite_path("record", b"old")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ValueError, match="not a file"):
        await storage.awrite_path("taken", b"new")
    with pytest.raises(ValueError, match="outside of the base path"):
        await storage.awrite_path("../escape", b"new")
    assert await storage.aread_path("record") == b"old"
    assert _temporary_files(tmp_path) == []


def test_saved_block_loads_by_slug_in_a_fresh_process(tmp_path: Path) -> None:
    # Workers resolve PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK by slug; the block type must be
    # found through the package's prefect.collections entry point alone.
    name = f"atomic-{uuid.uuid4().hex[:8]}"
    AtomicLocalFileSystem(basepath=str(tmp_path / "shared")).save(name)
    script = (
        "from prefect.blocks.core import Block\n"
        f"block = Block.load('atomic-local-file-system/{name}')\n"
        "print(type(block).__module__, type(block).__name__, block.basepath)\n"
    )
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    loaded = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == [
        "qcsc_prefect.integrations.qiskit.storage",
        "AtomicLocalFileSystem",
        str(tmp_path / "shared"),
    ]


async def test_stack_style_storage_round_trips_a_submit_cache_record(
    runtime_emulator: Any, isa_bell: QuantumCircuit, tmp_path: Path
) -> None:
    # As the stack configures it: a saved block named as the default result storage.
    name = f"atomic-{uuid.uuid4().hex[:8]}"
    shared = tmp_path / "shared-results"
    await AtomicLocalFileSystem(basepath=str(shared)).asave(name)
    slug = f"atomic-local-file-system/{name}"
    config = QiskitRuntimeConfig(backend_name=FEZ)
    pubs = [isa_bell]
    digest = build_qiskit_sampler_input_digest(
        pubs, backend_name=FEZ, shots=151, cache_scope="global"
    )

    @flow(name="atomic-storage-round-trip")
    async def submit_flow() -> JobReference:
        reference: JobReference = await submit_sampler_job_task(
            pubs, runtime_config=config, shots=151, input_digest=digest
        )
        return reference

    with temporary_settings(updates={PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: slug}):
        first = await submit_flow()
        second = await submit_flow()

    assert first.cache_key is not None and first.cache_location is not None
    assert first.cache_location.result_storage is not None
    assert first.cache_location.result_storage.startswith("block:")
    assert (shared / first.cache_key).is_file()
    assert _temporary_files(shared) == []
    record = await ResultStore(result_storage=await AtomicLocalFileSystem.aload(name)).aread(
        first.cache_key
    )
    assert record.result == first
    assert second == first  # the second run was Cached: the same stored reference
    assert runtime_emulator.control.job_count() == 1
