"""Generate ``docs/api.md`` from the docstrings of the package's public names.

Run ``.venv/bin/python docs/gen_api.py`` after changing a public docstring or ``__all__``;
``tests/docs/test_docs.py`` fails while ``api.md`` differs from what this script renders, and
rendering fails for a public name (or public method) without a docstring.

Signatures are taken from the source code as written (``ast.unparse`` of the definition), so
they read like the code rather than like fully expanded runtime types. Docstrings are Google
style; their ``Args``/``Raises``/``Attributes``/``Keys`` sections become lists and reST
literals become Markdown code. Docstring examples are fragments (top-level ``await``, names
from the surrounding text), so each of their code blocks gets a ``no-run`` marker: the docs
test compiles them but does not execute them.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qcsc_prefect.integrations import qiskit as api

OUTPUT = Path(__file__).with_name("api.md")

#: Sections of the reference, by the submodule that defines a name.
GROUPS: dict[str, str] = {
    "blocks": "Configuration",
    "storage": "Configuration",
    "tasks": "Tasks: simple mode",
    "submit": "Tasks: robust mode",
    "fetch": "Tasks: robust mode",
    "estimate": "Tasks: cost control",
    "primitives": "Wrapper classes",
    "digests": "Input digests and cache keys",
    "cache": "Input digests and cache keys",
    "retry": "Retries",
    "jobs": "Job values and types",
    "serializers": "Result serializer",
    "accounting": "Usage accounting",
    "errors": "Errors",
}
GROUP_ORDER = list(dict.fromkeys(GROUPS.values()))

_SECTION = re.compile(
    r"^(Args|Arguments|Returns|Raises|Attributes|Keys|Yields|Example|Examples|Note|Notes):$"
)
_LIST_SECTIONS = {"Args", "Arguments", "Raises", "Attributes", "Keys"}
_ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|exc|obj):`~?(?:[\w.]*\.)?([\w]+)`")


class MissingDocumentation(Exception):
    """A public name (or a public method of a public class) has no docstring."""


def _markdown_inline(text: str) -> str:
    text = _ROLE.sub(r"`\1`", text)
    return text.replace("``", "`")


def render_docstring(doc: str) -> str:
    """Render a Google-style docstring as Markdown.

    Args:
        doc: The raw docstring.

    Returns:
        Markdown text.
    """
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        header = _SECTION.match(lines[index])
        if header is None:
            out.append(_markdown_inline(lines[index]))
            index += 1
            continue
        name = header.group(1)
        body: list[str] = []
        index += 1
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
            body.append(lines[index])
            index += 1
        while body and not body[-1].strip():
            body.pop()
        text = textwrap.dedent("\n".join(body))
        out.extend(["", f"**{name}:**", ""])
        if name in _LIST_SECTIONS:
            out.extend(_render_entries(text))
        else:
            out.extend(_render_block(text))
        out.append("")
    return "\n".join(out).strip() + "\n"


def _render_entries(text: str) -> list[str]:
    entries: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith(" ") and entries:
            entries[-1] += " " + line.strip()
            continue
        term, _, description = line.partition(":")
        entries.append(f"- `{term.strip()}`: {description.strip()}")
    return [_markdown_inline(entry) for entry in entries]


def _render_block(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("```python"):
            out.extend(["", "<!-- no-run: docstring fragment -->", line])
        elif line.strip().startswith("```"):
            out.append(line)
        else:
            out.append(_markdown_inline(line))
    return out


def _signature(obj: Any, name: str) -> str:
    """Return the definition line of a function or class as written in its source."""
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return name
    node = ast.parse(source).body[0]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        node.decorator_list = []
        node.body = [ast.Expr(ast.Constant(...))]
        text = ast.unparse(node).removesuffix("\n    ...").removesuffix(":")
        return _wrap_parameters(text)
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(base) for base in node.bases)
        return f"class {node.name}({bases})" if bases else f"class {node.name}"
    return name


def _signature_block(obj: Any, name: str) -> list[str]:
    """Return a fenced, syntactically valid stub (``...`` body) of the definition."""
    return ["<!-- no-run: signature -->", "```python", _signature(obj, name) + ": ...", "```", ""]


def _wrap_parameters(text: str, width: int = 90) -> str:
    """Put one parameter per line when a definition line is longer than ``width``."""
    if len(text) <= width:
        return text
    start = text.index("(")
    depth, end, pieces, current = 0, start, [], ""
    for position in range(start + 1, len(text)):
        char = text[position]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                end = position
                break
            depth -= 1
        if char == "," and depth == 0:
            pieces.append(current.strip())
            current = ""
        else:
            current += char
    pieces.append(current.strip())
    inner = "".join(f"\n    {piece}," for piece in pieces if piece)
    return f"{text[: start + 1]}{inner}\n{text[end:]}"


def _alias_comment(module: Any, name: str) -> str:
    """Return the ``#:`` comment lines above ``name = ...`` in ``module``'s source."""
    lines = inspect.getsource(module).splitlines()
    for index, line in enumerate(lines):
        if re.match(rf"^{re.escape(name)}\s*(:|=)", line):
            comment: list[str] = []
            back = index - 1
            while back >= 0 and lines[back].startswith("#:"):
                comment.insert(0, lines[back][2:].strip())
                back -= 1
            definition = line.split("=", 1)[1].strip() if "=" in line else ""
            if not comment:
                return ""
            text = _markdown_inline(" ".join(comment))
            return f"{text}\n\n```text\n{name} = {definition}\n```"
    return ""


def _is_alias(obj: Any) -> bool:
    return typing.get_origin(obj) is not None and not inspect.isclass(obj)


def _fields_table(model: type[BaseModel]) -> list[str]:
    rows = ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    for field_name, field in model.model_fields.items():
        annotation = inspect.formatannotation(field.annotation).replace("|", "\\|")
        default = "required" if field.is_required() else f"`{field.default!r}`"
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{field_name}` | `{annotation}` | {default} | {description} |")
    return rows


def _members(cls: type) -> list[tuple[str, Any]]:
    """Return the public methods and properties defined in ``cls``'s own class body."""
    try:
        node = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    except (OSError, TypeError):
        return []
    assert isinstance(node, ast.ClassDef)
    members = []
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and not item.name.startswith(
            "_"
        ):
            members.append((item.name, inspect.getattr_static(cls, item.name)))
    return members


def document(name: str, obj: Any, module: Any = None) -> list[str]:
    """Return the Markdown lines documenting one public name.

    Args:
        name: The public name.
        obj: The object it refers to.
        module: The module that defines it (for type aliases).

    Returns:
        The lines of its section.

    Raises:
        MissingDocumentation: The name, or one of its public methods, has no docstring.
    """
    lines = [f"### `{name}`", ""]
    task_fn = getattr(obj, "fn", None)
    if task_fn is not None and callable(task_fn) and hasattr(obj, "with_options"):
        lines += ["*Prefect task.*", "", *_signature_block(task_fn, name)]
        doc = inspect.getdoc(task_fn)
    elif _is_alias(obj) or (module is not None and not callable(obj)):
        doc = _alias_comment(module, name) if module is not None else ""
        if not doc:
            raise MissingDocumentation(f"{name} has no `#:` comment")
        return [*lines, doc, ""]
    else:
        lines += _signature_block(obj, name)
        doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
    if not doc or not doc.strip():
        raise MissingDocumentation(f"{name} has no docstring")
    lines.append(render_docstring(doc))
    if inspect.isclass(obj) and issubclass(obj, BaseModel) and not issubclass(obj, Exception):
        own_fields = [f for f in obj.model_fields if f in getattr(obj, "__annotations__", {})]
        if own_fields and name != "QiskitRuntimeJSONSerializer":
            lines += ["**Fields:**", "", *_fields_table(obj), ""]
    if inspect.isclass(obj) and not issubclass(obj, Exception):
        for member_name, member in _members(obj):
            function = member.fget if isinstance(member, property) else member
            member_doc = inspect.getdoc(function)
            if not member_doc:
                raise MissingDocumentation(f"{name}.{member_name} has no docstring")
            kind = "property" if isinstance(member, property) else "method"
            lines += [f"#### `{name}.{member_name}` ({kind})", ""]
            if kind == "method":
                lines += _signature_block(function, member_name)
            lines.append(render_docstring(member_doc))
    return lines


def render() -> str:
    """Return the full text of ``api.md``.

    Returns:
        The Markdown document.
    """
    sections: dict[str, list[str]] = {group: [] for group in GROUP_ORDER}
    for name in sorted(api.__all__, key=str.lower):
        obj = getattr(api, name)
        module_name = getattr(obj, "__module__", "") or ""
        if _is_alias(obj) or module_name.startswith("typing"):
            module_name = api._LAZY.get(name, ".errors").lstrip(".")
            module = sys.modules[f"{api.__name__}.{module_name}"]
        else:
            module = None
            fn = getattr(obj, "fn", None)
            module_name = (getattr(fn, "__module__", None) or module_name).rsplit(".", 1)[-1]
        group = GROUPS.get(module_name.rsplit(".", 1)[-1])
        if group is None:
            raise MissingDocumentation(f"{name}: no reference section for module {module_name}")
        sections[group] += document(name, obj, module)
    header = [
        "# API reference",
        "",
        "<!-- Generated by docs/gen_api.py from the docstrings; do not edit by hand. -->",
        "",
        "Everything below is importable from `qcsc_prefect.integrations.qiskit`. This page is",
        "generated from the docstrings (`.venv/bin/python docs/gen_api.py`), and the test suite",
        "fails when it is out of date or when a public name has no docstring. Code in the",
        "docstrings is a fragment; the other pages have complete, executed examples.",
        "",
    ]
    contents = [f"- [{group}](#{_anchor(group)})" for group in GROUP_ORDER if sections[group]]
    body: list[str] = []
    for group in GROUP_ORDER:
        if sections[group]:
            body += [f"## {group}", "", *sections[group]]
    text = "\n".join([*header, *contents, "", *body])
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def _anchor(title: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", title.lower()).strip()
    return slug.replace(" ", "-")


def main() -> None:
    """Write ``api.md`` next to this script."""
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
