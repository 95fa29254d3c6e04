"""``make chaos``: faults of the shared services while three hosts submit the same inputs.

Brings up its own stack (`qcsc_stack` in `.stack-chaos/`, no workers), then runs four
scenarios (`scenarios`), each while three simulated hosts submit overlapping global-scope
inputs:

1. **PostgreSQL restarted** (the lock database and the Prefect server's) while locks are held;
2. **the Prefect server restarted** while the hosts submit;
3. **a host cut off** from the network (its own network namespace; the veth pair's outside
   end taken down) while it holds locks, until the others have taken over and finished;
4. **a lock holder frozen** with SIGSTOP for longer than the others' lock wait; they must fail
   naming it, and it is thawed afterwards.

Prints one row per scenario (jobs created, jobs live, distinct inputs, duplicates that ran,
results lost, flow runs failed, whether their rerun completed) and the wall time; exits non-zero
on any duplicate that ran, any lost result, or a scenario's own check failing. Needs root
(network namespaces; PostgreSQL runs as ``postgres``). The stack is deleted afterwards unless
``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _context import REPO, Chaos  # noqa: E402
from runner.config import SERVICE_LATENCY  # noqa: E402  (the benchmarks' one latency model)
from scenarios import SCENARIOS, Act, Row, finish_round, start_round  # noqa: E402

COLUMNS = (
    ("scenario", "scenario"),
    ("jobs_created", "jobs created"),
    ("jobs_live", "jobs live"),
    ("distinct_inputs", "distinct inputs"),
    ("duplicates_ran", "duplicates that ran"),
    ("results_lost", "results lost"),
    ("flow_runs_failed", "flow runs failed"),
    ("rerun_completed", "rerun completed"),
    ("seconds", "s"),
)


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (notes below it)."""
    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [header, "|" + "---|" * len(COLUMNS)]
    for row in rows:
        values = asdict(row)
        values["flow_runs_failed"] = f"{row.flow_runs_failed} of {row.flow_runs}"
        values["distinct_inputs"] = f"{row.distinct_inputs} of {row.expected_inputs}"
        lines.append("| " + " | ".join(str(values[key]) for key, _ in COLUMNS) + " |")
    lines += [f"- {row.scenario}: {row.note}" for row in rows]
    return "\n".join(lines)


def main() -> int:
    """Run the scenarios and print the table; 0 when every row passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, default=REPO / ".stack-chaos")
    parser.add_argument("--keep", action="store_true", help="keep the stack and its data")
    parser.add_argument(
        "--only", action="append", choices=[key for key, _, _ in SCENARIOS], help="repeatable"
    )
    parser.add_argument("--latency", type=float, default=SERVICE_LATENCY)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("make chaos needs root (network namespaces)", file=sys.stderr)
        return 2
    started = time.monotonic()
    chaos = Chaos(args.dir, args.latency)
    rows: list[Row] = []
    try:
        chaos.up()
        print(
            f"[chaos] stack up in {time.monotonic() - started:.0f} s ({chaos.stack.dir})",
            flush=True,
        )
        for key, how, scenario in SCENARIOS:
            if args.only and key not in args.only:
                continue
            rnd = start_round(chaos, key, **how)  # type: ignore[arg-type]
            print(f"[chaos] {key}: {len(rnd.hosts)} hosts ready", flush=True)
            try:
                act = scenario(chaos, rnd)
            except Exception as exc:  # the round is still counted, and fails
                chaos.namespace.restore()
                act = Act(f"the scenario broke off: {type(exc).__name__}: {exc}", ok=False)
            row = finish_round(chaos, rnd, act)
            rows.append(row)
            print(f"[chaos] {key}: {'PASS' if row.ok else 'FAIL'} ({row.note})", flush=True)
    finally:
        chaos.down(clean=not args.keep)
    wall = time.monotonic() - started
    print(table(rows))
    print(f"wall time: {wall:.0f} s")
    print("RESULT " + json.dumps({"rows": [asdict(row) for row in rows], "wall_s": round(wall)}))
    ok = bool(rows) and all(row.ok for row in rows)
    print("[chaos] PASS" if ok else "[chaos] FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
