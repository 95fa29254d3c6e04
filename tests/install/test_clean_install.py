"""Our wheels install a working stack by themselves, without the repository's constraints.

Marked ``install`` (deselected by ``make test``; ``make test-compat`` runs them): each case
builds a new virtual environment and installs qiskit, Prefect and their dependencies into it,
which takes minutes.

* An empty venv plus our two wheels resolves to a stack on which a robust submit/fetch flow
  runs against the Runtime emulator, with Prefect's temporary server (so fastapi must suit the
  Prefect that was chosen).
* A venv that already holds the Prefect of ``constraints.txt`` keeps every installed package
  at its version when our wheels are added.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

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


def test_wheels_in_an_empty_venv_run_a_robust_flow(wheels: list[Path], tmp_path: Path) -> None:
    python = _venv(tmp_path / "venv")
    started = time.monotonic()
    _run([python, "-m", "pip", "install", "--quiet", *wheels], env=_clean_env(tmp_path))
    install_seconds = time.monotonic() - started
    _run([python, "-m", "pip", "check"])

    versions = _versions(python)
    prefect = Version(versions["prefect"])
    assert Version("3.8") <= prefect < Version("4")
    assert Version(versions["fastapi"]) < Version("0.151")  # newer ones break Prefect 3.8

    output = _run([python, FLOW_SCRIPT], env=_clean_env(tmp_path))
    outcome = json.loads(output.strip().splitlines()[-1])
    assert outcome["state"] == "COMPLETED", outcome
    assert outcome["jobs"] == 1
    assert sum(outcome["value"]["counts"].values()) == 64
    print(
        f"clean install: prefect {prefect}, fastapi {versions['fastapi']}, {install_seconds:.0f} s"
    )


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


def test_wheels_with_prefect_3_8_resolve_a_fastapi_it_can_serve(
    wheels: list[Path], tmp_path: Path
) -> None:
    """Prefect 3.8 admits any fastapi below 1; our own requirement keeps it below 0.151."""
    report = tmp_path / "report.json"
    _run(
        [
            *(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"),
            *("--quiet", "--report", report, *wheels, "prefect==3.8.8"),
        ],
        env=_clean_env(tmp_path),
    )
    chosen = {
        item["metadata"]["name"].lower(): Version(item["metadata"]["version"])
        for item in json.loads(report.read_text())["install"]
    }
    assert chosen["prefect"] == Version("3.8.8")
    assert Version("0.139") <= chosen["fastapi"] < Version("0.151")
