"""What each page promises about reruns is what its code does: run its flows twice, count jobs.

A page states a promise next to the code it is about with an HTML comment after the block that
defines (and usually runs) the flow::

    <!-- rerun-check: robust_sampler_flow(pubs) pays -->
    <!-- rerun-check: cached_robust_sampler_flow(pubs) free -->

The test runs the page's blocks in order, like ``test_docs.py`` does, and at each marker calls
the expression twice more, each call a new flow run (a *rerun*), counting the jobs on the service
the page talks to (``QiskitRuntimeService().jobs()``: the fixture's emulator, or the page's own):

* ``free``: the second call submits nothing;
* ``pays``: the second call submits as many jobs as the first, and at least one.

``migration.md`` also states the promise of each style in its overview table ("A rerun ..."
row); that row must agree with the markers of its styles, in order.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_MARKER = re.compile(r"<!--\s*rerun-check:\s*(?P<call>.+?)\s+(?P<promise>free|pays)\s*-->")


def _docs_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "docs_test_docs", Path(__file__).with_name("test_docs.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


docs = _docs_module()


@dataclass(frozen=True)
class Promise:
    """One ``rerun-check`` marker."""

    line: int
    call: str
    promise: str


def promises(page: Path) -> list[Promise]:
    lines = page.read_text(encoding="utf-8").splitlines()
    return [
        Promise(number, match["call"], match["promise"])
        for number, line in enumerate(lines, start=1)
        if (match := _MARKER.search(line))
    ]


PAGES = [page for page in docs.EXECUTED if promises(page)]


def _job_count() -> int:
    from qiskit_ibm_runtime import QiskitRuntimeService

    return len(QiskitRuntimeService().jobs(limit=None))


def _call(expression: str, namespace: dict[str, Any]) -> None:
    value = eval(expression, namespace)  # the page's own flow, called as the page calls it
    if asyncio.iscoroutine(value):
        asyncio.run(value)


def _check(promise: Promise, namespace: dict[str, Any], label: str) -> None:
    before = _job_count()
    _call(promise.call, namespace)
    first = _job_count() - before
    _call(promise.call, namespace)
    second = _job_count() - before - first
    where = f"{label}:{promise.line}: {promise.call} promises '{promise.promise}' on a rerun"
    if promise.promise == "free":
        assert second == 0, f"{where}, but the rerun submitted {second} job(s)"
    else:
        assert first > 0 and second == first, f"{where}; jobs submitted: {first}, then {second}"


def test_every_page_that_talks_about_reruns_is_checked() -> None:
    names = {page.name for page in PAGES}
    assert {"migration.md", "robust-mode.md", "caching.md", "quickstart.md"} <= names, names


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_reruns_do_what_the_page_says(page: Path, runtime_emulator: Any, tmp_path: Path) -> None:
    blocks = [block for block in docs.python_blocks(page) if block.no_run is None]
    compiled = [(block, docs._compile(block)) for block in blocks]
    checks = promises(page)
    namespace: dict[str, Any] = {"__name__": f"rerun_{page.stem.replace('-', '_')}"}
    label = str(page.relative_to(ROOT))

    def run_page() -> None:
        with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: tmp_path / "storage"}):
            pending = list(checks)
            for index, (_block, code) in enumerate(compiled):
                exec(code, namespace)
                next_line = compiled[index + 1][0].line if index + 1 < len(compiled) else 10**9
                while pending and pending[0].line < next_line:
                    _check(pending.pop(0), namespace, label)
            assert not pending, f"markers before the first code block: {pending}"

    docs._run_in_fresh_thread(run_page)


def test_the_migration_table_states_what_the_styles_do() -> None:
    page = DOCS / "migration.md"
    row = next(
        line
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("| A rerun")
    )
    cells = [cell.strip() for cell in row.strip("|").split("|")][1:]
    checks = promises(page)
    assert len(cells) == len(checks) == 5, (cells, checks)  # styles 1 to 4, then the wrappers
    for cell, check in zip(cells, checks, strict=True):
        if check.promise == "pays":
            assert cell.startswith("submits a new"), (cell, check)
        else:
            assert "reuses" in cell, (cell, check)
