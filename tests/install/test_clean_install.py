"""Our wheels install a working stack by themselves, without the repository's constraints.

Marked ``install`` (deselected by ``make test``; ``make test-compat`` runs them): each case
builds a new virtual environment and installs qiskit, Prefect and their dependencies into it,
which takes minutes.

* An empty venv plus the library's wheel alone (no extras) runs a robust submit/fetch flow
  against a Runtime emulator served from this test's own venv, with Prefect's temporary server;
  qiskit-aer is absent and ``channel="local"`` says which extra to add. The same venv with
  ``[local,postgres]`` runs the flow on ``channel="local"`` and can import asyncpg.
* A venv that already holds the Prefect of ``constraints.txt`` keeps every installed package
  at its version when our wheels are added.
* The wheel with ``[prefect38]`` resolves Prefect 3.8 with a fastapi it can serve with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from qcsc_runtime_emulator import RuntimeEmulator

pytestmark = [pytest.mark.install, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("qcsc-prefect-qiskit", "qcsc-runtime-emulator")
FLOW_SCRIPT = Path(__file__).with_name("robust_flow.py")


def _run(args: list[str | Path], *, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, env=env, check=False
    )
    assert completed.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({completed.returncode}):\n"
        f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
    )
    return completed.stdout


def _clean_env(home: Path) -> dict[str, str]:
    """The environment of a new user: no Prefect or pip settings from this test run."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "PIP_CONSTRAINT", "VIRTUAL_ENV", "PYTHONPATH"))
        and not key.startswith(("QISKIT_", "IAM_URL", "GLOBAL_"))
    }
    env["PREFECT_HOME"] = str(home / "prefect-home")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    env["DO_NOT_TRACK"] = "1"
    return env


def _venv(path: Path) -> Path:
    _run([sys.executable, "-m", "venv", path])
    return path / "bin" / "python"


def _versions(python: Path) -> dict[str, str]:
    listed = json.loads(_run([python, "-m", "pip", "list", "--format=json"]))
    return {item["name"].lower().replace("_", "-"): item["version"] for item in listed}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Both wheels, built from this checkout."""
    out = tmp_path_factory.mktemp("wheels")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out]
        + [ROOT / "packages" / name for name in PACKAGES]
    )
    built = sorted(out.glob("*.whl"))
    assert [w.name.split("-")[0] for w in built] == ["qcsc_prefect_qiskit", "qcsc_runtime_emulator"]
    return built


def _flow(python: Path, env: dict[str, str], *options: str) -> dict[str, Any]:
    completed = subprocess.run(
        [str(python), str(FLOW_SCRIPT), *options], capture_output=True, text=True, env=env
    )
    lines = completed.stdout.strip().splitlines()
    assert lines, f"no output ({completed.returncode}):\n{completed.stderr[-4000:]}"
    outcome: dict[str, Any] = json.loads(lines[-1])
    return outcome


def test_the_bare_wheel_runs_a_cloud_flow_and_local_needs_its_extra(
    wheels: list[Path], tmp_path: Path
) -> None:
    library = next(wheel for wheel in wheels if wheel.name.startswith("qcsc_prefect_qiskit"))
    python = _venv(tmp_path / "venv")
    env = _clean_env(tmp_path)
    started = time.monotonic()
    _run([python, "-m", "pip", "install", "--quiet", library], env=env)
    install_seconds = time.monotonic() - started
    _run([python, "-m", "pip", "check"])
    versions = _versions(python)
    assert Version("3.8") <= Version(versions["prefect"]) < Version("4")
    assert "qiskit-aer" not in versions
    assert "qcsc-runtime-emulator" not in versions

    with RuntimeEmulator(port=0) as emulator:
        outcome = _flow(python, {**env, **emulator.env()})
        jobs = emulator.control.job_count()
    assert outcome["state"] == "COMPLETED", outcome
    assert jobs == 1
    assert sum(outcome["value"]["counts"].values()) == 64

    refused = _flow(python, env, "--local")
    assert refused["state"] == "FAILED"
    assert "qcsc-prefect-qiskit[local]" in refused["error"], refused

    _run([python, "-m", "pip", "install", "--quiet", f"{library}[local,postgres]"], env=env)
    _run([python, "-m", "pip", "check"])
    _run([python, "-c", "import asyncpg, qiskit_aer"])
    local = _flow(python, env, "--local")
    assert local["state"] == "COMPLETED", local
    assert sum(local["value"]["counts"].values()) == 64
    print(f"clean install: prefect {versions['prefect']}, {install_seconds:.0f} s")


def test_wheels_change_no_package_of_an_installed_prefect(
    wheels: list[Path], tmp_path: Path
) -> None:
    constraints = ROOT / "constraints.txt"
    pinned = next(
        Requirement(line)
        for line in constraints.read_text().splitlines()
        if line.startswith("prefect")
    )
    python = _venv(tmp_path / "venv")
    env = _clean_env(tmp_path)
    _run([python, "-m", "pip", "install", "--quiet", "-c", constraints, str(pinned)], env=env)
    before = _versions(python)
    assert pinned.specifier.contains(before["prefect"])

    _run([python, "-m", "pip", "install", "--quiet", *wheels], env=env)
    after = _versions(python)
    changed = {name: (v, after.get(name)) for name, v in before.items() if after.get(name) != v}
    assert changed == {}
    assert {"qcsc-prefect-qiskit", "qcsc-runtime-emulator"} <= after.keys()


def test_the_prefect38_extra_resolves_a_fastapi_prefect_3_8_can_serve(
    wheels: list[Path], tmp_path: Path
) -> None:
    """Prefect 3.8 admits any fastapi below 1; the ``prefect38`` extra keeps it below 0.151."""
    library = next(wheel for wheel in wheels if wheel.name.startswith("qcsc_prefect_qiskit"))
    report = tmp_path / "report.json"
    _run(
        [
            *(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"),
            *("--quiet", "--report", report, f"{library}[prefect38]"),
        ],
        env=_clean_env(tmp_path),
    )
    chosen = {
        item["metadata"]["name"].lower(): Version(item["metadata"]["version"])
        for item in json.loads(report.read_text())["install"]
    }
    assert Version("3.8") <= chosen["prefect"] < Version("3.9")
    assert Version("0.139") <= chosen["fastapi"] < Version("0.151")
