"""The process-wide tables: each registered by its owner, listed on the architecture page, and
emptied by the one reset the test suite uses."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import SimpleNamespace
from uuid import uuid4

import qcsc_prefect.integrations.qiskit as api
from qcsc_prefect.integrations.qiskit import _state
from qcsc_prefect.integrations.qiskit._identity import OCCURRENCES
from qcsc_prefect.integrations.qiskit._job_handles import JOB_HANDLES

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _import_every_module() -> None:
    for module in pkgutil.walk_packages(api.__path__, prefix=api.__name__ + "."):
        importlib.import_module(module.name)


def test_the_architecture_page_lists_every_table() -> None:
    _import_every_module()
    page = ARCHITECTURE.read_text()
    block = re.search(r"<!-- state-tables -->\n(.*?)\n\n", page, re.DOTALL)
    assert block is not None, "docs/architecture.md has no <!-- state-tables --> table"
    rows = [line.split("|")[1:4] for line in block.group(1).splitlines()[2:]]
    listed = {name.strip().strip("`"): bound.strip() for name, _holds, bound in rows}
    assert listed == {table.name: table.bound for table in _state.tables()}


def test_reset_empties_the_tables_that_have_one() -> None:
    job = SimpleNamespace(job_id=lambda: "job-reset-test")
    JOB_HANDLES.remember(job)
    flow_run = uuid4()
    first = OCCURRENCES.next(flow_run, 1, "inputs")
    assert OCCURRENCES.next(flow_run, 1, "inputs") == first + 1
    _state.reset()
    assert JOB_HANDLES.get("job-reset-test") is None
    assert OCCURRENCES.next(flow_run, 1, "inputs") == 0
    kept = [table.name for table in _state.tables() if table.reset is None]
    assert kept == [
        "_runtime.poller._pollers",
        "_runtime.pool._pool",
        "locking._locks",
        "waiting._write_slots",
    ]
