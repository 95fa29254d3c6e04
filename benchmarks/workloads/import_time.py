"""Workload 9: what importing the library costs a fresh flow-run process, on top of its stack.

A flow run on a deployment is a new process: it imports Prefect, qiskit-ibm-runtime and then
the library, every time. This script, run once per fresh process, times two steps with
``time.perf_counter`` (wall) and ``time.process_time`` (CPU):

* ``bare``: ``import prefect, qiskit_ibm_runtime`` and ``from prefect import flow, task``. The
  last import is part of the bare cost on purpose: ``import prefect`` alone defers Prefect's
  own start-up (``prefect.main``: settings, logging set-up, model rebuilds, ~60 ms) to the first
  access of a top-level name, and every flow run makes that access anyway (the flow file's
  ``from prefect import flow``; ``prefect.flow_engine`` itself). Without it, whichever module
  first says ``from prefect import Task`` would be charged Prefect's start-up.
* ``library``: the names a robust flow imports (``robust_flow.py``: the submit and fetch
  tasks, their cache keys, the digest builder and the Block), identical for both
  implementations.

It also reports how many modules the library step added, and which of a few modules a robust
flow must not need were loaded (the PostgreSQL driver, the emulator).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from _common import emit, implementation

if TYPE_CHECKING:
    from collections.abc import Callable

#: Modules a robust flow without a PostgreSQL lock has no use for.
WATCHED = ("asyncpg", "qcsc_runtime_emulator", "qcsc_prefect.integrations.qiskit._pglock")


def _timed(step: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def _bare() -> None:
    import prefect  # noqa: F401
    import qiskit_ibm_runtime  # noqa: F401
    from prefect import flow, task  # noqa: F401


def _library() -> None:
    from qcsc_prefect.integrations.qiskit import (  # noqa: F401
        QiskitRuntimeConfig,
        build_qiskit_sampler_input_digest,
        fetch_qiskit_job_result_task,
        qiskit_result_fetch_cache_key,
        qiskit_sampler_submit_cache_key,
        submit_sampler_job_task,
    )


def main() -> None:
    impl = implementation()  # importlib.metadata only: nothing of the measured stack
    before = set(sys.modules)
    bare_wall, bare_cpu = _timed(_bare)
    middle = set(sys.modules)
    lib_wall, lib_cpu = _timed(_library)
    added = set(sys.modules) - middle
    emit(
        kind="imports",
        impl=impl,
        bare=bare_wall,
        bare_cpu=bare_cpu,
        library=lib_wall,
        library_cpu=lib_cpu,
        bare_modules=len(middle - before),
        library_modules=len(added),
        watched=sorted(name for name in WATCHED if name in sys.modules),
    )


if __name__ == "__main__":
    main()
