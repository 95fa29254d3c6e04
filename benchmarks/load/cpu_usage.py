"""Where the machine's CPU went during one load run: the stack's services, the hosts, the rest.

Read from /proc: a process tree's CPU is the user and system time of every live member plus
the time of the children each has reaped (a finished flow-run process is reaped by its
worker, so a worker's tree holds its flow runs). Linux only; elsewhere every figure is 0.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if len(fields) > 1:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu(pid: int) -> float:
    """CPU-seconds of ``pid``, its live descendants and every child they reaped."""
    if pid <= 0:
        return 0.0
    total = 0
    for member in [pid, *_descendants(pid)]:
        fields = _stat(member)
        if len(fields) > 14:  # utime, stime, cutime, cstime: fields 14-17 of stat
            total += sum(int(value) for value in fields[11:15])
    return total / _TICK


def machine_busy() -> float:
    """CPU-seconds all cores spent not idle since boot."""
    with contextlib.suppress(OSError):
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return (sum(fields[:8]) - idle) / _TICK
    return 0.0


def service_pids(stack_dir: Path) -> dict[str, int]:
    """The stack's long-running processes: Prefect server, PostgreSQL, emulator, its workers."""
    pids: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        state = json.loads((stack_dir / "state.json").read_text())
        pids["prefect server"] = int(state.get("server_pid") or 0)
        pids["emulator"] = int(state.get("emulator_pid") or 0)
        for name, pid in state.get("workers", {}).items():
            pids[f"stack {name}"] = int(pid)
    with contextlib.suppress(OSError, ValueError, IndexError):
        pids["postgresql"] = int((stack_dir / "pg" / "postmaster.pid").read_text().split()[0])
    return {name: pid for name, pid in pids.items() if pid}


def snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU-seconds so far of each named process tree, and the machine's busy time."""
    usage = {name: tree_cpu(pid) for name, pid in pids.items()}
    usage["machine busy"] = machine_busy()
    return usage


def own_cpu(pid: int) -> float:
    """CPU-seconds of ``pid`` alone (no children)."""
    fields = _stat(pid)
    return sum(int(value) for value in fields[11:13]) / _TICK if len(fields) > 12 else 0.0


def hosts_cpu(workers: dict[str, int], hosts_dir: Path) -> dict[str, float]:
    """The surviving hosts' workers and flow-run processes (those a worker started and reaped)."""
    workers_cpu = sum(own_cpu(pid) for pid in workers.values())
    flow_runs_cpu = sum(tree_cpu(pid) for pid in workers.values()) - workers_cpu
    started = 0
    for name in workers:
        log = hosts_dir / name / "worker.log"
        with contextlib.suppress(OSError):
            started += log.read_text(errors="replace").count("submitted to infrastructure")
    return {
        "host workers": round(workers_cpu, 1),
        "flow-run processes": round(flow_runs_cpu, 1),
        "flow-run processes counted": started,
        "per flow-run process": round(flow_runs_cpu / started, 2) if started else 0.0,
    }
