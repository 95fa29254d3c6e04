"""The four faults of ``make chaos``, each while three hosts submit overlapping inputs.

Every scenario runs one *round*: three host processes (`_hosts`) with new global-scope inputs
(host ``k`` submits inputs ``k..k+3``: 12 submissions of 6 distinct inputs, each shared input
submitted by two or three hosts at about the same moment), a fault while they run, then a rerun
of every host whose flow run did not complete. It is counted from the emulator's control API
(jobs created, jobs live = not cancelled, distinct inputs = distinct idempotency tags,
duplicates that ran = live jobs beyond one per tag) and from the Prefect API (flow runs not
completed, found by the round's flow-run names); results lost are inputs a host never got a
result for, after its rerun.

The tag lookup a submitter makes under its lock (``GET /jobs``, the job list) is what a fault
waits for: delaying it keeps the locks held long enough for the fault to hit them.
"""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from _hosts import Host, launch, wait_exit, wait_ready

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from _context import Chaos

HOSTS: Final = 3
INPUTS_PER_HOST: Final = 4
#: The job list: the tag lookup under the lock (relative to the runtime API's base path).
TAG_LOOKUP: Final = r"/jobs$"
#: The lock wait of the hosts that meet a frozen holder (``QCSC_QISKIT_LOCK_TIMEOUT``).
FROZEN_LOCK_WAIT: Final = 15
#: How long after the lock wait a waiter may take to fail (its other submissions, the exit).
FAIL_SLACK: Final = 30.0
#: How long one round's hosts may take.
ROUND_TIMEOUT: Final = 240.0


@dataclass
class Round:
    """One scenario's hosts and what it needs to count them."""

    key: str
    salt: float
    label: str
    workdir: Path
    hosts: list[Host]
    jobs_before: set[str]
    started: float


@dataclass
class Act:
    """What a scenario did, in words, and whether its own check held."""

    note: str
    ok: bool = True


@dataclass
class Row:
    """One line of the chaos table."""

    scenario: str
    jobs_created: int
    jobs_live: int
    distinct_inputs: int
    expected_inputs: int
    duplicates_ran: int
    results_lost: int
    flow_runs: int
    flow_runs_failed: int
    rerun_completed: str
    seconds: float
    note: str
    ok: bool


def plan() -> list[list[int]]:
    """The inputs of each host: ``k..k+3`` for host ``k``."""
    return [list(range(k, k + INPUTS_PER_HOST)) for k in range(HOSTS)]


def start_round(
    chaos: Chaos,
    key: str,
    *,
    cut_off_first: bool = False,
    waiters_env: dict[str, str] | None = None,
) -> Round:
    """Start the round's hosts (the first in the namespace if ``cut_off_first``); wait ready."""
    salt = round(random.uniform(0.1, 3.0), 6)
    label = f"chaos-{key}-{uuid.uuid4().hex[:8]}"
    workdir = chaos.work / key
    jobs_before = {job["id"] for job in chaos.jobs()}
    hosts = []
    for index, indices in enumerate(plan()):
        name = f"host-{index + 1}"
        outside = cut_off_first and index == 0
        env = chaos.outside_env(name) if outside else chaos.host_env(name)
        if index > 0:
            env.update(waiters_env or {})
        prefix = chaos.namespace.prefix if outside else None
        run_name = f"{label}-first-{name}"
        hosts.append(
            launch(
                name, indices, salt=salt, run_name=run_name, env=env, workdir=workdir, prefix=prefix
            )
        )
    wait_ready(hosts)
    return Round(key, salt, label, workdir, hosts, jobs_before, time.monotonic())


def finish_round(chaos: Chaos, rnd: Round, act: Act) -> Row:
    """Wait for the hosts, rerun the failed ones, count."""
    try:
        if not wait_exit(rnd.hosts, ROUND_TIMEOUT):
            act = Act(act.note + "; hosts still running at the deadline (killed)", ok=False)
    finally:
        for host in rnd.hosts:
            host.stop()
        chaos.control.clear_faults()
    states = chaos.flow_run_states(f"{rnd.label}-first-")
    failed = sum(1 for state in states.values() if state != "COMPLETED")
    failed += max(0, len(rnd.hosts) - len(states))  # a host that never created its flow run
    final = {host.name: host for host in rnd.hosts}
    reruns = [_rerun(chaos, rnd, host) for host in rnd.hosts if not host.completed()]
    if reruns:
        wait_ready(reruns)
        for host in reruns:
            host.go()
        wait_exit(reruns, ROUND_TIMEOUT)
        for host in reruns:
            host.stop()
            final[host.name] = host
    return _count(chaos, rnd, act, list(final.values()), failed, len(states), reruns)


def _rerun(chaos: Chaos, rnd: Round, host: Host) -> Host:
    env = chaos.host_env(host.name)
    run_name = f"{rnd.label}-rerun-{host.name}"
    return launch(
        host.name, host.indices, salt=rnd.salt, run_name=run_name, env=env, workdir=rnd.workdir
    )


def _count(
    chaos: Chaos,
    rnd: Round,
    act: Act,
    final: list[Host],
    failed: int,
    flow_runs: int,
    reruns: list[Host],
) -> Row:
    created = [job for job in chaos.jobs() if job["id"] not in rnd.jobs_before]
    live = [job for job in created if job["status"] != "Cancelled"]
    per_tag = Counter(_idempotency_tag(job) for job in live)
    distinct = {_idempotency_tag(job) for job in created}
    lost = 0
    by_digest: dict[str, set[str]] = {}
    for host in final:
        outcome = host.outcome()
        done = outcome is not None and outcome["event"] == "completed"
        lost += len(host.indices) - (int(outcome["fetched"]) if outcome and done else 0)
        for digest, job_id in (outcome or {}).get("jobs", {}).items():
            by_digest.setdefault(digest, set()).add(job_id)
    expected = len({index for indices in plan() for index in indices})
    split = sum(1 for ids in by_digest.values() if len(ids) > 1)
    duplicates = sum(count - 1 for count in per_tag.values() if count > 1)
    rerun = "n/a" if not reruns else ("yes" if all(h.completed() for h in reruns) else "no")
    note = act.note + (
        f"; {split} inputs got different job ids on different hosts" if split else ""
    )
    ok = act.ok and duplicates == 0 and lost == 0 and split == 0 and rerun != "no"
    ok = ok and len(distinct) == expected
    return Row(
        scenario=rnd.key,
        jobs_created=len(created),
        jobs_live=len(live),
        distinct_inputs=len(distinct),
        expected_inputs=expected,
        duplicates_ran=duplicates,
        results_lost=lost,
        flow_runs=flow_runs,
        flow_runs_failed=failed,
        rerun_completed=rerun,
        seconds=round(time.monotonic() - rnd.started, 1),
        note=note,
        ok=ok,
    )


def _idempotency_tag(job: dict[str, object]) -> str:
    tags = job.get("tags") or []
    assert isinstance(tags, list)
    return next((str(tag) for tag in tags if str(tag).startswith("qcsc-idem-")), "untagged")


# --------------------------------------------------------------------------- waiting helpers


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def _delay_lookups(chaos: Chaos, seconds: float, times: int) -> None:
    chaos.control.add_fault("GET", TAG_LOOKUP, {"delay": seconds}, times=times)


def _first_holds_its_locks(chaos: Chaos, first: Host, delay: float) -> int:
    """Release ``first`` alone, its tag lookups delayed; return once it holds its locks.

    On return every lookup of ``first`` has reached the emulator (the delay fault is used up)
    and waits there ``delay`` seconds, each under its lock.
    """
    _delay_lookups(chaos, delay, len(first.indices))
    first.go()
    _until(
        lambda: not chaos.control.faults() and chaos.locks_held(first.pid) > 0,
        60,
        f"{first.name} to hold its locks",
    )
    return chaos.locks_held(first.pid)


# --------------------------------------------------------------------------- the scenarios


def _all_hold_locks(chaos: Chaos, rnd: Round) -> int:
    """Release every host, tag lookups delayed 1 s; return once two or more locks are held."""
    _delay_lookups(chaos, 1.0, HOSTS * INPUTS_PER_HOST)
    for host in rnd.hosts:
        host.go()
    _until(lambda: chaos.locks_held() >= 2, 60, "locks to be held")
    return chaos.locks_held()


def postgres_restarted(chaos: Chaos, rnd: Round) -> Act:
    """PostgreSQL (the lock database and the Prefect server's) restarts under held locks."""
    held = _all_hold_locks(chaos, rnd)
    down = chaos.restart_postgres()
    return Act(f"restarted while {held} locks were held; down {down:.1f} s")


def server_restarted(chaos: Chaos, rnd: Round) -> Act:
    """The Prefect server stops and starts again while the hosts hold locks."""
    held = _all_hold_locks(chaos, rnd)
    down = chaos.restart_server()
    return Act(f"server stopped while {held} locks were held and back after {down:.1f} s")


def host_cut_off(chaos: Chaos, rnd: Round) -> Act:
    """A host loses its network while it holds locks; the others take over; it comes back."""
    first, others = rnd.hosts[0], rnd.hosts[1:]
    held = _first_holds_its_locks(chaos, first, delay=2.0)
    chaos.namespace.cut()
    cut_at = time.monotonic()
    for host in others:
        host.go()
    finished = wait_exit(others, 150)
    took_over = time.monotonic() - cut_at
    chaos.namespace.restore()
    wait_exit([first], ROUND_TIMEOUT)
    retaken = first.err.read_text().count("was lost before posting")
    return Act(
        f"{first.name} cut off holding {held} locks for {took_over:.0f} s; the others "
        f"{'finished' if finished else 'had not finished'} meanwhile; back on the network it "
        f"found {retaken} locks lost before posting and took them again",
        ok=finished,
    )


def holder_frozen(chaos: Chaos, rnd: Round) -> Act:
    """A lock holder is stopped (SIGSTOP) for longer than the others' lock wait."""
    first, others = rnd.hosts[0], rnd.hosts[1:]
    held = _first_holds_its_locks(chaos, first, delay=2.0)
    first.signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    for host in others:
        host.go()
    wait_exit(others, FROZEN_LOCK_WAIT + 120)
    failed_after = [host.exited_at - stopped_at for host in others if host.exited_at]
    frozen_for = time.monotonic() - stopped_at
    first.signal(signal.SIGCONT)
    named = [
        host
        for host in others
        if (outcome := host.outcome()) is not None
        and outcome["event"] == "failed"
        and f"pid {first.pid}" in outcome["message"]
    ]
    within = all(
        FROZEN_LOCK_WAIT <= seconds <= FROZEN_LOCK_WAIT + FAIL_SLACK for seconds in failed_after
    )
    return Act(
        f"{first.name} frozen {frozen_for:.0f} s holding {held} locks; {len(named)} of "
        f"{len(others)} waiters failed naming pid {first.pid} after "
        f"{', '.join(f'{s:.0f}' for s in failed_after)} s (lock wait {FROZEN_LOCK_WAIT} s); "
        f"{first.name} thawed",
        ok=len(named) == len(others) and within,
    )


#: (key, how the round starts, the fault) in the order they run.
SCENARIOS: Final[list[tuple[str, dict[str, object], Callable[[Chaos, Round], Act]]]] = [
    ("postgres-restart", {}, postgres_restarted),
    ("prefect-server-restart", {}, server_restarted),
    ("host-cut-off", {"cut_off_first": True}, host_cut_off),
    (
        "holder-frozen",
        {"waiters_env": {"QCSC_QISKIT_LOCK_TIMEOUT": str(FROZEN_LOCK_WAIT)}},
        holder_frozen,
    ),
]
