"""Two hosts, one PostgreSQL-backed Prefect server, one emulator: one job per input.

The stack is the real one from `qcsc_stack` (the ``stack`` fixture of this directory's
conftest: PostgreSQL 15 run as ``postgres``, an authenticated Prefect server on it, the Runtime
emulator), brought up in a temporary directory on free loopback ports. Each "host" is a
subprocess with its own HOME, PREFECT_HOME, lock directory and local result storage; they share
only the stack's ``env`` (Prefect API and its auth string, lock URL, shared results block,
emulator). Both submit the same global-scope inputs at the same moment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HOST = Path(__file__).with_name("host.py")
INPUTS = 5
#: Generous bounds: the hosts import Prefect and Qiskit on a small, possibly busy machine.
READY_TIMEOUT = 120.0
RUN_TIMEOUT = 120.0


def _emulator_jobs(emulator_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{emulator_url}/_emulator/jobs", timeout=10) as response:
        payload = json.loads(response.read())
    jobs = payload["jobs"] if isinstance(payload, dict) else payload
    assert isinstance(jobs, list)
    return jobs


@pytest.mark.timeout(360)
def test_two_hosts_submit_each_input_once(stack: Any, stack_module: ModuleType) -> None:
    joining = stack_module.read_env_file(stack.env_path)
    assert stack.env_path.stat().st_mode & 0o077 == 0, ".stack/env must be owner-only"
    assert joining.get("PREFECT_API_AUTH_STRING"), "the hosts must authenticate to the server"
    earlier_jobs = {job["id"] for job in _emulator_jobs(joining["QCSC_EMULATOR_URL"])}
    work = stack.dir / "test-two-hosts"
    work.mkdir()
    go = work / "go"
    hosts: list[tuple[str, subprocess.Popen[str], Path]] = []
    try:
        for name in ("host-a", "host-b"):
            env = stack_module.host_env(stack.host_dir(name), joining)
            ready = work / f"{name}.ready"
            proc = subprocess.Popen(
                [sys.executable, str(HOST), str(ready), str(go), str(INPUTS)],
                env=env,
                cwd=work,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            hosts.append((name, proc, ready))
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(ready.exists() for _, _, ready in hosts):
            for name, proc, _ in hosts:
                if proc.poll() is not None:
                    _, err = proc.communicate()
                    pytest.fail(f"{name} exited early: {err[-3000:]}")
            assert time.monotonic() < deadline, f"hosts not ready in {READY_TIMEOUT} s"
            time.sleep(0.05)
        go.write_text("go")

        results: dict[str, dict[str, str]] = {}
        for name, proc, _ in hosts:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
            assert proc.returncode == 0, f"{name} failed:\n{err[-4000:]}"
            results[name] = json.loads(out.strip().splitlines()[-1])
    finally:
        for _, proc, _ in hosts:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    jobs = [
        job
        for job in _emulator_jobs(joining["QCSC_EMULATOR_URL"])
        if job["id"] not in earlier_jobs  # other tests share this stack
    ]
    assert results["host-a"] == results["host-b"], "the hosts got different jobs"
    assert len(results["host-a"]) == INPUTS
    assert len(jobs) == INPUTS, (
        f"{len(jobs)} jobs created for {INPUTS} inputs: "
        f"{sorted((j['id'], j['status']) for j in jobs)}"
    )
    assert {job["id"] for job in jobs} == set(results["host-a"].values())

    # No secret in the server's database: dump it whole (logs, artifacts, parameters, blocks...).
    creds = json.loads((stack.dir / "secrets.json").read_text())
    state = stack_module.State.load(stack.state_path)
    postgres = stack_module.Postgres(stack.pg_dir, state.pg_port)
    dump = postgres.dump(stack_module.PREFECT_DB)
    assert "scaleout-two-hosts" in dump, "the dump should hold the flow runs"
    for secret_name in (
        "lock_password",
        "emulator_api_key",
        "prefect_password",
        "prefect_auth_string",
    ):
        assert creds[secret_name] not in dump, f"{secret_name} found in the Prefect database"
    counts = postgres.psql(
        "SELECT (SELECT count(*) FROM log), (SELECT count(*) FROM flow_run);",
        database=stack_module.PREFECT_DB,
    )
    logs, flow_runs = (int(x) for x in counts.strip().split("|"))
    assert flow_runs >= 2 and logs > 0
