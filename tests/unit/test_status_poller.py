"""The shared status poller: one listing per round serves every waiter, and it stays bounded."""

from __future__ import annotations

import asyncio

import pytest

from qcsc_prefect.integrations.qiskit._runtime import poller as _status_poller
from qcsc_prefect.integrations.qiskit._runtime.listing import read_page
from qcsc_prefect.integrations.qiskit._runtime.poller import (
    PAGE_SIZE,
    Listing,
    StatusPoller,
    Update,
    poller_busy,
    poller_for,
)


class FakeService:
    """Pending jobs by id; counts the listing rounds."""

    def __init__(self, statuses: dict[str, str], *, complete: bool = True) -> None:
        self.statuses = statuses
        self.complete = complete
        self.rounds = 0
        self.fail_with: Exception | None = None

    async def list_pending(self) -> Listing:
        self.rounds += 1
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        return Listing(dict(self.statuses), complete=self.complete)


def make_poller(service: FakeService) -> StatusPoller:
    return StatusPoller(service.list_pending, lambda: None)


async def test_one_round_serves_every_waiter() -> None:
    service = FakeService({f"job-{n}": "QUEUED" for n in range(50)})
    poller = make_poller(service)
    waits = [
        asyncio.create_task(poller.watch(f"job-{n}", "QUEUED", timeout=5, interval=0.01))
        for n in range(50)
    ]
    await asyncio.sleep(0.05)
    service.statuses = {f"job-{n}": "RUNNING" for n in range(25)}  # the rest have finished
    updates = await asyncio.gather(*waits)
    assert updates[:25] == [Update("status", "RUNNING")] * 25
    assert updates[25:] == [Update("gone")] * 25
    assert service.rounds <= 10  # rounds, not waiters, drive the requests


async def test_an_unchanged_job_keeps_waiting_until_its_timeout() -> None:
    service = FakeService({"job": "QUEUED"})
    poller = make_poller(service)
    assert await poller.watch("job", "QUEUED", timeout=0.1, interval=0.01) is None
    assert service.rounds >= 2


async def test_an_incomplete_listing_never_reports_a_missing_job_as_gone() -> None:
    service = FakeService({}, complete=False)
    poller = make_poller(service)
    assert await poller.watch("job", "QUEUED", timeout=0.1, interval=0.01) is None


async def test_a_waiter_can_ignore_absence_from_the_list() -> None:
    service = FakeService({})
    poller = make_poller(service)
    update = await poller.watch("job", "QUEUED", timeout=0.1, interval=0.01, report_gone=False)
    assert update is None


async def test_a_listing_read_before_a_waiter_registered_is_not_applied_to_it() -> None:
    gate = asyncio.Event()
    seen: list[str] = []

    async def slow_list() -> Listing:
        await gate.wait()
        seen.append("round")
        return Listing({}, complete=True)  # would say "gone" for everyone

    poller = StatusPoller(slow_list, lambda: None)
    early = asyncio.create_task(poller.watch("early", "QUEUED", timeout=5, interval=0.0))
    await asyncio.sleep(0.01)  # the first round is now waiting on the gate
    late = asyncio.create_task(poller.watch("late", "QUEUED", timeout=0.2, interval=0.0))
    await asyncio.sleep(0.01)
    gate.set()
    assert await early == Update("gone")
    assert await late == Update("gone")  # from a later round, never the one already in flight
    assert len(seen) >= 2


async def test_a_failing_listing_releases_every_waiter_and_pauses_the_connection() -> None:
    service = FakeService({"a": "QUEUED", "b": "QUEUED"})
    service.fail_with = RuntimeError("listing is not supported")
    client = object()
    poller = poller_for(client, service.list_pending)
    assert poller is not None
    updates = await asyncio.gather(
        poller.watch("a", "QUEUED", timeout=5, interval=0.01),
        poller.watch("b", "QUEUED", timeout=5, interval=0.01),
    )
    assert updates == [Update("stopped"), Update("stopped")]
    assert poller_for(client, service.list_pending) is None  # waiters poll on their own now


async def test_the_poller_stops_and_leaves_the_registry_when_nobody_waits() -> None:
    service = FakeService({"job": "QUEUED"})
    client = object()
    poller = poller_for(client, service.list_pending)
    assert poller is not None
    assert await poller.watch("job", "QUEUED", timeout=0.05, interval=0.01) is None
    await asyncio.sleep(0.05)
    rounds = service.rounds
    await asyncio.sleep(0.05)
    assert service.rounds == rounds  # no rounds without waiters
    assert poller.idle
    key = (id(asyncio.get_running_loop()), id(client))
    assert key not in _status_poller._pollers


async def test_poller_busy_only_looks_and_says_whether_jobs_wait() -> None:
    service = FakeService({"job": "QUEUED"})
    client = object()
    key = (id(asyncio.get_running_loop()), id(client))
    assert not poller_busy(client)
    assert key not in _status_poller._pollers  # looking created nothing
    poller = poller_for(client, service.list_pending)
    assert poller is not None and not poller_busy(client)  # registered, nobody waits yet
    watching = asyncio.create_task(poller.watch("job", "QUEUED", timeout=0.1, interval=0.01))
    await asyncio.sleep(0)
    assert poller_busy(client)
    assert not poller_busy(object())  # another connection's jobs do not share these rounds
    assert await watching is None
    await asyncio.sleep(0.05)
    assert not poller_busy(client)


def test_read_page_takes_the_status_from_the_job_state() -> None:
    statuses: dict[str, str] = {}
    size, count = read_page(
        {
            "jobs": [
                {"id": "a", "state": {"status": "Queued"}, "status": "Queued"},
                {"id": "b", "state": {"status": "Running"}},
            ],
            "count": 450,
        },
        statuses,
    )
    assert (size, count) == (2, 450)
    assert statuses == {"a": "QUEUED", "b": "RUNNING"}
    assert PAGE_SIZE <= 200


@pytest.mark.parametrize("count", [0, 1])
def test_read_page_of_an_empty_list(count: int) -> None:
    statuses: dict[str, str] = {}
    assert read_page({"jobs": [], "count": count}, statuses) == (0, count)


def test_read_page_speaks_the_tag_lookups_vocabulary() -> None:
    """One parse for both readers of the job list: the 1305 rule and the client's status names."""
    statuses: dict[str, str] = {}
    read_page(
        {
            "jobs": [
                {"id": "f", "state": {"status": "Cancelled", "reason_code": 1305}},
                {"id": "c", "state": {"status": "Completed"}},
                {"id": "x", "state": {"status": "Cancelled"}},
            ],
            "count": 3,
        },
        statuses,
    )
    assert statuses == {"f": "ERROR", "c": "DONE", "x": "CANCELLED"}
