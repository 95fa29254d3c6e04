"""The layer contract (`.importlinter`): kept by the library, broken by an upward import, and
the same as the one docs/architecture.md draws."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import qcsc_prefect.integrations.qiskit as api

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / ".importlinter"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(*, python_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--config", str(CONTRACT)],
        capture_output=True,
        text=True,
        env=env,
        cwd=python_path or ROOT,
        timeout=120,
        check=False,
    )


def test_the_library_keeps_its_layer_contract() -> None:
    run = lint()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 kept, 0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("jobs.py", "from .primitives import QCSCSamplerV2"),  # the base imports the surface
        ("_runtime/native.py", "from .listing import ListedJob"),  # inside the seam, upward
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, upward: str) -> None:
    """Lint a copy of the package with one import added that runs against the layers."""
    copy = tmp_path / "qcsc_prefect" / "integrations" / "qiskit"
    shutil.copytree(Path(api.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / module).open("a") as handle:
        handle.write(f"\n{upward}  # added on purpose\n")
    run = lint(python_path=tmp_path)
    assert run.returncode != 0, run.stdout
    assert "BROKEN" in run.stdout
    importer = "qcsc_prefect.integrations.qiskit." + module.removesuffix(".py").replace("/", ".")
    assert f"{importer} is not allowed to import" in run.stdout


def _contract_text() -> str:
    """The contract's layers and exceptions, one per line, as the architecture page shows them."""
    parser = configparser.ConfigParser()
    parser.read(CONTRACT)
    lines: list[str] = []
    for section in parser.sections():
        if not section.startswith("importlinter:contract:"):
            continue
        contract = parser[section]
        lines.append(f"[{contract['containers'].strip()}]")
        lines.extend(line.strip() for line in contract["layers"].strip().splitlines())
        for line in contract.get("ignore_imports", "").strip().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append("allowed: " + line.replace("qcsc_prefect.integrations.qiskit.", ""))
    return "\n".join(lines)


def test_the_architecture_page_shows_the_contract() -> None:
    page = ARCHITECTURE.read_text()
    match = re.search(r"<!-- layer-contract -->\n```text\n(.*?)\n```", page, re.DOTALL)
    assert match is not None, "docs/architecture.md has no <!-- layer-contract --> block"
    assert match.group(1) == _contract_text()
