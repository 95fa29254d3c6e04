"""The shape of the packages' code: no function in ``packages/*/src`` over 50 lines of code.

Lines of code are the lines from ``def`` to the function's last line, without its docstring,
blank lines and lines holding only a comment (decorators are not counted; a nested function's
lines count for the function that holds it too). Pure ``ast``: nothing is imported or run.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The most lines of code one function may have.
MAX_CODE_LINES = 50


def _docstring_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> range:
    first = function.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return range(first.lineno, (first.end_lineno or first.lineno) + 1)
    return range(0)


def code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """How many lines of code ``function`` has (docstring, blanks and comment lines left out)."""
    docstring = _docstring_lines(function)
    counted = 0
    for number in range(function.lineno, (function.end_lineno or function.lineno) + 1):
        text = lines[number - 1].strip()
        if number in docstring or not text or text.startswith("#"):
            continue
        counted += 1
    return counted


def long_functions(source: str, where: str) -> list[str]:
    """``"<where>:<line> <name> (<n> lines)"`` for each function in ``source`` over the limit."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            count = code_lines(node, lines)
            if count > MAX_CODE_LINES:
                found.append(f"{where}:{node.lineno} {node.name} ({count} lines)")
    return found


def test_no_function_in_the_packages_is_over_50_lines_of_code() -> None:
    sources = sorted(ROOT.glob("packages/*/src/**/*.py"))
    assert len(sources) > 40  # the library and the emulator are both read
    found = [
        line
        for path in sources
        for line in long_functions(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert found == []


def test_the_count_leaves_out_docstrings_blanks_and_comments() -> None:
    """Positive control: the ``def`` line and 49 statements pass, one statement more fails, and
    a docstring, blank lines, comment lines and decorators are not counted."""
    padding = '    """A docstring\n\n    over lines."""\n\n    # a comment\n\n'
    statements = "\n".join(f"    x{index} = {index}" for index in range(49))
    fifty = f"@decorator\ndef fifty():\n{padding}{statements}\n"
    function = ast.parse(fifty).body[0]
    assert isinstance(function, ast.FunctionDef)
    assert code_lines(function, fifty.splitlines()) == 50
    assert long_functions(fifty, "probe") == []
    fifty_one = f"def too_long():\n{padding}{statements}\n    # more\n    x49 = 49\n"
    assert long_functions(fifty_one, "probe") == ["probe:1 too_long (51 lines)"]
