"""Execute every Python code block of the documentation against the Runtime emulator.

How a page runs (the convention the docs are written to):

* Every fenced ``python`` block of a page in ``docs/`` runs, in page order, in **one
  namespace**, so a later block may use names an earlier block defined (``backend``,
  ``isa_bell``, a flow, ...). Each page starts from an empty namespace.
* A page runs **like a user's script**: in a fresh thread with no running event loop. Async
  flows are therefore called the way a script calls them, ``asyncio.run(my_flow(...))``, and
  sync flows are called directly. (The test thread itself belongs to pytest-asyncio, whose
  session loop must not be replaced; the fresh thread gets a copy of the test's context
  variables, so Prefect's test-harness settings apply inside it.)
* The ``runtime_emulator`` fixture has put the emulator's ``QISKIT_IBM_*``, ``IAM_URL``,
  ``GLOBAL_SEARCH_URL`` and ``GLOBAL_CATALOG_URL`` variables in the environment, so
  ``QiskitRuntimeConfig(backend_name="ibm_fez")`` without a token reaches the emulator by
  qiskit-ibm-runtime's ordinary account discovery; the docs need no test-only code.
* Each page gets its own Prefect result storage directory, so "run it twice, the second run is
  ``Cached``" examples start cold, and a cache entry from one page (whose job the emulator
  forgot when it was reset) can never satisfy another page.
* A block preceded by an HTML comment ``<!-- no-run: <reason> -->`` is not executed, only
  compiled (top-level ``await`` allowed), so it still cannot drift into invalid syntax. Use it
  only for code that cannot run here (real IBM credentials, docstring fragments in
  ``api.md``). Shell commands use ``bash``/``console`` fences, which are not executed.

Other checks: ``api.md`` equals what ``docs/gen_api.py`` renders from the docstrings now (and
that rendering fails for a public name without a docstring); every error class appears in
``troubleshooting.md``; every page is linked from ``index.md`` and the README.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import importlib.util
import linecache
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# qiskit is imported here, in the main thread, on purpose: qiskit 2.6 can crash when it is first
# imported in a thread that later exits (see the emulator's README), and every page runs in such
# a thread.
import qiskit  # noqa: F401
import qiskit_ibm_runtime  # noqa: F401
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

from qcsc_prefect.integrations import qiskit as api
from qcsc_prefect.integrations.qiskit import errors

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(DOCS.glob("*.md"))
#: Pages owned by others: linked, but not written (or executed) by the docs suite.
NOT_OURS = {"performance.md"}
EXECUTED = [page for page in PAGES if page.name not in NOT_OURS]

#: Longest time one page may take (the whole docs suite aims at well under 90 s).
PAGE_TIMEOUT = 150.0

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_NO_RUN = re.compile(r"<!--\s*no-run:\s*(?P<reason>[^>]*?)\s*-->")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    no_run: str | None  # the reason given in the no-run marker, if any

    @property
    def label(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def code_blocks(page: Path) -> list[Block]:
    """Return the fenced code blocks of ``page`` in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    previous = ""  # the last non-blank line before the current one
    while index < len(lines):
        line = lines[index]
        opening = _FENCE.match(line)
        if opening is None:
            if line.strip():
                previous = line
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        opening_line = index + 1  # 1-based
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        marker = _NO_RUN.search(previous)
        blocks.append(
            Block(
                page=page,
                line=opening_line,
                language=opening["info"].lower(),
                code="\n".join(body) + "\n",
                no_run=marker["reason"] if marker else None,
            )
        )
        previous = ""
        index += 1
    return blocks


def python_blocks(page: Path) -> list[Block]:
    return [block for block in code_blocks(page) if block.language in ("python", "py")]


def _compile(block: Block, *, allow_top_level_await: bool = False) -> Any:
    filename = f"<{block.label}>"
    # Register the source so tracebacks, and inspect.getsource for Prefect's task-source cache
    # policy, see the documentation's own lines.
    source_lines = [""] * block.line + block.code.splitlines(keepends=True)
    linecache.cache[filename] = (len(block.code), None, source_lines, filename)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if allow_top_level_await else 0
    padded = "\n" * block.line + block.code  # line numbers in tracebacks match the page
    return compile(padded, filename, "exec", flags=flags, dont_inherit=True)


def _run_in_fresh_thread(function: Any) -> None:
    """Run ``function()`` in a new thread with no event loop, like a user's script."""
    context = contextvars.copy_context()
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            context.run(function)
        except BaseException as exc:  # re-raised in the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="docs-page", daemon=True)
    thread.start()
    thread.join(PAGE_TIMEOUT)
    if thread.is_alive():
        pytest.fail(f"the page did not finish within {PAGE_TIMEOUT:g} s")
    if "error" in outcome:
        raise outcome["error"]


# --------------------------------------------------------------------------- the pages


@pytest.mark.parametrize("page", EXECUTED, ids=[page.name for page in EXECUTED])
def test_page_runs_against_the_emulator(page: Path, runtime_emulator: Any, tmp_path: Path) -> None:
    blocks = python_blocks(page)
    runnable = [block for block in blocks if block.no_run is None]
    for block in blocks:
        if block.no_run is not None:
            assert block.no_run, f"{block.label}: a no-run marker must give its reason"
            _compile(block, allow_top_level_await=True)  # still syntax-checked
    compiled = [(block, _compile(block)) for block in runnable]
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    timings: list[tuple[str, float]] = []

    def run_page() -> None:
        with pytest.raises(RuntimeError):  # like a script: no event loop is running
            asyncio.get_running_loop()
        with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: tmp_path / "storage"}):
            for block, code in compiled:
                started = time.perf_counter()
                try:
                    exec(code, namespace)
                except BaseException as exc:
                    exc.add_note(f"while running the code block at {block.label}")
                    raise
                timings.append((block.label, time.perf_counter() - started))

    _run_in_fresh_thread(run_page)
    assert len(timings) == len(runnable)


# --------------------------------------------------------------------------- structure


def test_every_page_has_code_and_marks_skips_sparingly() -> None:
    for page in EXECUTED:
        if page.name in ("api.md", "index.md"):
            continue
        blocks = python_blocks(page)
        skipped = [block for block in blocks if block.no_run is not None]
        assert blocks, f"{page.name} has no Python example"
        assert len(skipped) <= 2, f"{page.name}: too many no-run blocks: {skipped}"


def _links(text: str) -> set[str]:
    return set(re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text))


def test_index_and_readme_link_every_page() -> None:
    index_links = _links((DOCS / "index.md").read_text(encoding="utf-8"))
    for page in PAGES:
        if page.name != "index.md":
            assert page.name in index_links, f"docs/index.md does not link {page.name}"
    assert "performance.md" in index_links
    readme = README.read_text(encoding="utf-8")
    assert "docs/index.md" in _links(readme), "README.md does not link docs/index.md"
    assert "make demo" in readme and "make test" in readme


def test_relative_links_resolve() -> None:
    for page in PAGES:
        for target in _links(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if target == "performance.md":
                continue  # written by the benchmark suite; may land later
            assert (page.parent / target).exists(), f"{page.name} links missing {target}"


def test_troubleshooting_covers_every_error_class() -> None:
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    classes = [
        name
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), errors.QCSCQiskitError)
    ]
    assert len(classes) >= 13
    missing = [name for name in classes if f"`{name}`" not in text]
    assert not missing, f"troubleshooting.md does not explain {missing}"


# --------------------------------------------------------------------------- API reference


def _gen_api() -> Any:
    spec = importlib.util.spec_from_file_location("docs_gen_api", DOCS / "gen_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_generated_from_the_current_docstrings() -> None:
    rendered = _gen_api().render()
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == rendered, (
        "docs/api.md is out of date with the docstrings; regenerate it with "
        "`.venv/bin/python docs/gen_api.py`"
    )


def test_every_public_name_is_in_the_api_reference() -> None:
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in api.__all__:
        assert f"## `{name}`" in current or f"### `{name}`" in current, name


def test_a_public_name_without_a_docstring_fails_the_rendering() -> None:
    gen_api = _gen_api()

    def undocumented() -> None:
        pass

    with pytest.raises(gen_api.MissingDocumentation, match="undocumented"):
        gen_api.document("undocumented", undocumented)
