"""One real stack (``qcsc_stack``) shared by the scale-out and stack-security tests.

It is brought up once for this directory, in a temporary state directory on free loopback
ports: PostgreSQL 15 (run as ``postgres``), a Prefect server on it with API authentication and
its UI, the Runtime emulator and one process worker (``worker-1``). Tests that need their own
hosts start them with ``stack_module.host_env``. Skipped only when PostgreSQL's server binaries
are absent and cannot be installed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = ("--timeout", "90")


@pytest.fixture(scope="session")
def stack_module() -> ModuleType:
    """The stack package (``stack/qcsc_stack``, installed editable by ``make venv``)."""
    import qcsc_stack

    return qcsc_stack


@pytest.fixture(scope="package")
def stack(stack_module: ModuleType) -> Iterator[Any]:
    """A running stack with one worker; ``down --clean`` afterwards."""
    try:
        stack_module.find_pg_bindir(install=True)
    except stack_module.StackError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    directory = Path(tempfile.mkdtemp(prefix="qcsc-scaleout-"))
    cmd = [sys.executable, "-m", "qcsc_stack"]
    try:
        up = subprocess.run(
            [*cmd, "up", "--dir", str(directory), "--workers", "1", "--limit", "2", *TIMEOUT],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert up.returncode == 0, up.stderr[-3000:]
        yield stack_module.Stack(directory)
    finally:
        subprocess.run([*cmd, "down", "--dir", str(directory), "--clean"], timeout=90, check=False)
