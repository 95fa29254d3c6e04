"""Progress artifacts of many waiting jobs: bounded writes, newest status only, final awaited."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID, uuid4

import pytest

from qcsc_prefect.integrations.qiskit import waiting
from qcsc_prefect.integrations.qiskit.waiting import MAX_PROGRESS_WRITES, Progress


class FakeArtifacts:
    """Stands in for the Prefect API: counts writes and how many run at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.running = 0
        self.peak = 0
        self.writes: list[tuple[str, float]] = []

    async def _write(self, kind: str, progress: float) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.gate.wait()
            self.writes.append((kind, progress))
        finally:
            self.running -= 1

    async def create(self, progress: float, key: str | None = None, **_: object) -> UUID:
        await self._write("create", progress)
        return uuid4()

    async def update(self, artifact_id: UUID, progress: float, **_: object) -> None:
        await self._write("update", progress)


@pytest.fixture
def artifacts(monkeypatch: pytest.MonkeyPatch) -> FakeArtifacts:
    fake = FakeArtifacts()
    monkeypatch.setattr(waiting, "acreate_progress_artifact", fake.create)
    monkeypatch.setattr(waiting, "aupdate_progress_artifact", fake.update)
    return fake


LOGGER = logging.getLogger("test")


async def test_intermediate_statuses_do_not_wait_and_writes_are_bounded(
    artifacts: FakeArtifacts,
) -> None:
    progresses = [Progress(None, f"job-{n}", LOGGER) for n in range(40)]
    await asyncio.wait_for(asyncio.gather(*(p.update("QUEUED") for p in progresses)), 1)
    await asyncio.sleep(0.01)
    assert artifacts.running == 0  # a status that is not final settles first
    flushes = [asyncio.create_task(p.flush()) for p in progresses]
    await asyncio.sleep(0.01)
    assert artifacts.running == MAX_PROGRESS_WRITES  # the rest wait for a slot
    artifacts.gate.set()
    await asyncio.gather(*flushes)
    assert artifacts.peak == MAX_PROGRESS_WRITES
    assert artifacts.writes == [("create", 10.0)] * 40


async def test_only_the_newest_status_is_written_and_the_final_one_is_awaited(
    artifacts: FakeArtifacts,
) -> None:
    blockers = [Progress(None, f"busy-{n}", LOGGER) for n in range(MAX_PROGRESS_WRITES)]
    for blocker in blockers:
        await blocker.update("QUEUED")
    flushes = [asyncio.create_task(b.flush()) for b in blockers]
    await asyncio.sleep(0.01)
    assert artifacts.running == MAX_PROGRESS_WRITES  # every slot taken
    progress = Progress("job-progress", "job", LOGGER)
    await progress.update("QUEUED")
    await progress.update("RUNNING")
    final = asyncio.create_task(progress.update("DONE"))
    await asyncio.sleep(0.01)
    assert not final.done()  # the final status is written before the wait returns
    artifacts.gate.set()
    await final
    await asyncio.gather(*flushes)
    assert artifacts.writes.count(("create", 100.0)) == 1  # QUEUED and RUNNING were skipped
    assert len(artifacts.writes) == MAX_PROGRESS_WRITES + 1


async def test_a_status_is_written_once_it_has_settled(
    artifacts: FakeArtifacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiting, "PROGRESS_SETTLE", 0.05)
    artifacts.gate.set()
    waiting_job = Progress(None, "long", LOGGER)
    await waiting_job.update("QUEUED")
    assert artifacts.writes == []
    await asyncio.sleep(0.2)
    assert artifacts.writes == [("create", 10.0)]  # written without a flush
    await waiting_job.update("RUNNING")
    await waiting_job.update("DONE")  # final: written at once, RUNNING skipped
    assert artifacts.writes == [("create", 10.0), ("update", 100.0)]

    artifacts.writes.clear()
    quick = Progress("quick-progress", "quick", LOGGER)
    await quick.update("QUEUED")
    await quick.update("RUNNING")
    await quick.update("DONE")  # finished within the settling time: one write in all
    assert artifacts.writes == [("create", 100.0)]

    artifacts.writes.clear()
    unkeyed = Progress(None, "unkeyed", LOGGER)
    await unkeyed.update("QUEUED")
    await unkeyed.update("DONE")  # nobody could have watched it: no artifact at all
    await asyncio.sleep(0.1)
    assert artifacts.writes == []
