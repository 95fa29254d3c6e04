"""docs/hpc.md's commands, run as written against the real stack.

The page marks what the test runs:

* ``<!-- hpc-file: NAME -->`` before a ``python`` block: the block is saved as ``NAME`` in the
  project directory;
* ``<!-- hpc-test -->`` before a ``bash`` block: run with ``bash -e`` in the project directory,
  it must succeed;
* ``<!-- hpc-test: background -->``: started, left running (a worker), stopped at the end.

Every command runs as one more simulated host of the stack (its own HOME and PREFECT_HOME, the
stack's ``env``). The page creates a work pool, saves the Block, deploys the flow from the
project directory, starts a worker and runs the deployment twice; the test then checks that both
flow runs completed and that the service got exactly one job (the second run reused it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "hpc.md"
_MARK = re.compile(r"<!--\s*hpc-(?P<kind>file|test)(?::\s*(?P<arg>[^>]*?))?\s*-->")
_FENCE = re.compile(r"^```(?P<info>\w*)\s*$")


def page_steps(text: str) -> list[tuple[str, str, str]]:
    """``(kind, argument, code)`` for each marked block, in page order."""
    steps: list[tuple[str, str, str]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        mark = _MARK.search(lines[index])
        index += 1
        if mark is None:
            continue
        while index < len(lines) and not lines[index].strip():
            index += 1
        assert _FENCE.match(lines[index]), f"hpc.md:{index + 1}: a marker must precede a block"
        body: list[str] = []
        index += 1
        while not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        steps.append((mark["kind"], (mark["arg"] or "").strip(), "\n".join(body) + "\n"))
    return steps


def _jobs(emulator_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{emulator_url}/_emulator/jobs", timeout=10) as response:
        payload = json.loads(response.read())
    jobs = payload["jobs"] if isinstance(payload, dict) else payload
    assert isinstance(jobs, list)
    return jobs


def test_the_page_marks_its_commands() -> None:
    steps = page_steps(PAGE.read_text(encoding="utf-8"))
    files = {arg for kind, arg, _ in steps if kind == "file"}
    assert files == {"save_block.py", "qpu_flow.py", "deploy.py"}
    commands = "\n".join(code for kind, _, code in steps if kind == "test")
    for needed in ("prefect work-pool create", "python deploy.py", "prefect worker start"):
        assert needed in commands
    assert commands.count("prefect deployment run") == 2


@pytest.mark.timeout(900)
# A worker on a stack of its own, about a minute: `make test-runners` runs it (`.ci/run` calls it).
@pytest.mark.cluster
def test_hpc_page_commands_run_against_the_stack(
    stack: Any, stack_module: ModuleType, tmp_path: Path
) -> None:
    joining = stack_module.read_env_file(stack.env_path)
    project = tmp_path / "project"
    project.mkdir()
    env = stack_module.host_env(stack.host_dir("hpc-login"), joining)
    env["USER"] = env.get("USER") or "hpc-test"
    env["PATH"] = f"{Path(stack_module._venv_bin('prefect')).parent}{os.pathsep}{env['PATH']}"
    env["PREFECT_WORKER_QUERY_SECONDS"] = "2"
    earlier = {job["id"] for job in _jobs(joining["QCSC_EMULATOR_URL"])}
    background: list[subprocess.Popen[str]] = []
    log = tmp_path / "background.log"
    try:
        for kind, arg, code in page_steps(PAGE.read_text(encoding="utf-8")):
            if kind == "file":
                (project / arg).write_text(code)
            elif arg == "background":
                with log.open("a") as out:
                    background.append(
                        subprocess.Popen(
                            ["bash", "-ec", code],
                            cwd=project,
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            text=True,
                            start_new_session=True,
                        )
                    )
            else:
                done = subprocess.run(
                    ["bash", "-ec", code],
                    cwd=project,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=700,
                    check=False,
                )
                worker_log = log.read_text() if log.exists() else ""
                assert done.returncode == 0, (
                    f"{code}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{worker_log[-3000:]}"
                )
    finally:
        for process in background:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    new_jobs = [job for job in _jobs(joining["QCSC_EMULATOR_URL"]) if job["id"] not in earlier]
    assert len(new_jobs) == 1, new_jobs  # two flow runs, one job: the rerun reused it
