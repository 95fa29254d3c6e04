"""Virtualenvs for the incumbent release and for qiskit 1.x, created once and stamped."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .config import INCUMBENT, INCUMBENT_VENV, QISKIT1_REQUIREMENTS, QISKIT1_VENV, ROOT, log


def _pip_install(python: Path, args: list[str]) -> tuple[bool, str]:
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *args],
        capture_output=True,
        text=True,
    )
    lines = [line for line in proc.stderr.splitlines() if "is ignored" not in line]
    return proc.returncode == 0, "\n".join(lines[-6:])


def ensure_venv(path: Path, installs: list[list[str]], install: bool) -> tuple[Path | None, str]:
    """Create ``path`` with the pip ``installs`` once; a stamp records what was installed."""
    python = path / "bin" / "python"
    recipe = json.dumps(installs) + (ROOT / "constraints.txt").read_text()
    stamp_text = hashlib.sha256(recipe.encode()).hexdigest()
    stamp = path / ".bench-stamp"
    if python.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return python, "ready"
    if not install:
        return None, f"{path.name} is not installed (run without --quick/--no-install)"
    log(f"creating {path.relative_to(ROOT)} (once; about 1-3 minutes)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    for args in installs:
        ok, tail = _pip_install(python, args)
        if not ok:
            return None, f"pip install {' '.join(args)} failed: {tail}"
    stamp.write_text(stamp_text)
    return python, "created"


def incumbent_venv(install: bool) -> tuple[Path | None, str]:
    """The incumbent release plus the emulator, under the project's constraints."""
    return ensure_venv(
        INCUMBENT_VENV,
        [
            [
                "-c",
                str(ROOT / "constraints.txt"),
                INCUMBENT,
                "-e",
                str(ROOT / "packages" / "qcsc-runtime-emulator"),
            ]
        ],
        install,
    )


def qiskit1_venv(install: bool) -> tuple[Path | None, str]:
    """A venv with qiskit 1.x and prefect; the two libraries are put on PYTHONPATH per load."""
    QISKIT1_VENV.mkdir(parents=True, exist_ok=True)
    derived = QISKIT1_VENV / "constraints-no-qiskit.txt"
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    derived.write_text(
        "\n".join(line for line in lines if not line.strip().lower().startswith("qiskit")) + "\n"
    )
    return ensure_venv(
        QISKIT1_VENV,
        [
            ["-c", str(derived), *QISKIT1_REQUIREMENTS],
            ["--no-deps", "--target", str(QISKIT1_VENV / "incumbent-src"), INCUMBENT],
        ],
        install,
    )


@dataclass
class Environments:
    """The interpreters a run uses, and why any of them is missing."""

    pythons: dict[str, Path]
    libs: list[str]
    qiskit1: Path | None = None
    qiskit1_note: str = "skipped"
    notes: list[str] = field(default_factory=list)


def prepare(install: bool, incumbent: bool, cross_version: bool) -> Environments:
    """Find or create the venvs a run needs; the two are installed side by side.

    Args:
        install: Create missing venvs (otherwise they are reported as missing).
        incumbent: Measure the incumbent release.
        cross_version: Prepare the qiskit 1.x venv (workload 6).
    """
    here = Path(sys.executable)
    envs = Environments(pythons={"native": here, "plain": here, "ours": here}, libs=["ours"])
    # pip mostly waits on I/O, so the two installs overlap well.
    with ThreadPoolExecutor(max_workers=2) as pool:
        inc = pool.submit(incumbent_venv, install) if incumbent else None
        old = pool.submit(qiskit1_venv, install) if cross_version else None
        if inc is not None:
            python, note = inc.result()
            if python is None:
                envs.notes.append(f"Incumbent not measured: {note}")
            else:
                envs.pythons["incumbent"] = python
                envs.libs.append("incumbent")
        if old is not None:
            envs.qiskit1, envs.qiskit1_note = old.result()
            if envs.qiskit1 is None:
                envs.notes.append(f"Cross-version load not measured: {envs.qiskit1_note}")
    return envs
