"""One simulated host of ``make chaos``: run the load test's flow once and report.

Started by the chaos driver with the environment of one stack host (its own HOME,
PREFECT_HOME, lock directory and local storage; the Prefect API, the PostgreSQL submit lock,
the shared result storage and the emulator from the stack's ``env``). It imports everything,
prints ``{"event": "ready"}``, waits for ``go`` on stdin (so that the driver decides who
submits first), then runs ``load_batch`` (robust, global-scope inputs: submit all, fetch all)
as a flow run of the given name and prints one JSON line with the outcome:

* ``{"event": "completed", "flow_run_id": ..., "jobs": {digest: job_id}, "fetched": n}``
* ``{"event": "failed", "flow_run_id": ..., "state": ..., "message": ...}``

Usage: ``python host.py --salt S --indices 0,1,2,3 --name chaos-...``

The driver finds the flow runs by name. (Prefect tags would do too, but a tagged task run asks
the server for tag concurrency slots, one more call that a server outage fails.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks" / "load"))

from flows import load_batch  # noqa: E402  (the load test's flow, reused as it is)


def say(**fields: object) -> None:
    """Print one JSON line for the driver."""
    print(json.dumps(fields), flush=True)


async def run(salt: float, indices: list[int], name: str) -> int:
    """Run the flow once as a flow run called ``name``; 0 when it completed."""
    named = load_batch.with_options(flow_run_name=name)
    state = await named(salt, indices, return_state=True)
    flow_run_id = str(state.state_details.flow_run_id)
    if state.is_completed():
        report = await state.result()  # type: ignore[misc]
        say(
            event="completed",
            flow_run_id=flow_run_id,
            jobs=report["jobs"],
            fetched=report["fetched"],
        )
        return 0
    error = await state.result(raise_on_failure=False)  # type: ignore[misc]
    say(
        event="failed",
        flow_run_id=flow_run_id,
        state=state.type.value,
        message=f"{type(error).__name__}: {error}"[:3000],
    )
    return 1


def main() -> int:
    """Parse the arguments, announce readiness, wait for ``go``, run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--salt", type=float, required=True)
    parser.add_argument("--indices", required=True, help="comma-separated input indices")
    parser.add_argument("--name", required=True, help="the flow run's name")
    args = parser.parse_args()
    indices = [int(part) for part in args.indices.split(",")]
    say(event="ready", pid=os.getpid())
    if sys.stdin.readline().strip() != "go":
        return 2
    return asyncio.run(run(args.salt, indices, args.name))


if __name__ == "__main__":
    raise SystemExit(main())
