"""The process-wide tables: each registered by its owner, listed on the architecture page, and
emptied by the one reset the test suite uses."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from types import SimpleNamespace
from uuid import uuid4

import qcsc_prefect.integrations.qiskit as api
from qcsc_prefect.integrations.qiskit import _state, instance_limit
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
    instance_limit._remember(7, "flow-run-reset-test", None)
    assert instance_limit._reusable(7, "flow-run-reset-test") == (True, None)
    _state.reset()
    assert JOB_HANDLES.get("job-reset-test") is None
    assert OCCURRENCES.next(flow_run, 1, "inputs") == 0
    assert instance_limit._reusable(7, "flow-run-reset-test") == (False, None)
    kept = [table.name for table in _state.tables() if table.reset is None]
    assert kept == [
        "_runtime.poller._pollers",
        "_runtime.pool._pool",
        "locking._locks",
        "waiting._background_writes",
        "waiting._write_slots",
    ]


#: Calls that build an empty container: a module-level name bound to one is a table that grows.
_EMPTY_CONTAINERS = {"dict", "set", "list", "OrderedDict", "defaultdict", "WeakKeyDictionary",
                     "WeakValueDictionary", "WeakSet"}  # fmt: skip


def _module_tables(path: Path) -> set[str]:
    """Module-level names bound to an empty container (``{}``, ``set()``, ``OrderedDict()``)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        target, value = (
            (node.target, node.value) if isinstance(node, ast.AnnAssign) else
            (node.targets[0], node.value) if isinstance(node, ast.Assign) else (None, None)
        )  # fmt: skip
        if not isinstance(target, ast.Name) or value is None:
            continue
        empty_literal = isinstance(value, (ast.Dict, ast.Set, ast.List)) and not ast.unparse(
            value
        ).strip("{}[]")
        call = value.func if isinstance(value, ast.Call) and not value.args else None
        name = call.attr if isinstance(call, ast.Attribute) else getattr(call, "id", None)
        if empty_literal or name in _EMPTY_CONTAINERS:
            found.add(target.id)
    return found


def test_every_module_level_table_is_registered() -> None:
    """A module-level dict, set or list that starts empty is process-wide state: registered."""
    _import_every_module()
    root = Path(api.__file__).parent
    registered = {table.name for table in _state.tables()}
    unregistered = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        if module == "_state":
            continue  # the registry itself
        for name in _module_tables(path):
            if f"{module}.{name}" not in registered:
                unregistered.append(f"{module}.{name}")
    assert unregistered == []


def test_the_table_finder_sees_tables(tmp_path: Path) -> None:
    """Positive control: the finder reports the forms a table takes."""
    source = "a = {}\nb: set[int] = set()\nc = OrderedDict()\nd = weakref.WeakKeyDictionary()\n"
    source += "E: Final = {'x': 1}\nf = make()\n"
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert _module_tables(path) == {"a", "b", "c", "d"}
