"""The examples run end to end as scripts (against this run's Prefect server)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from qcsc_prefect.integrations.qiskit import QiskitRuntimeConfig

DEMO_DIR = Path(__file__).resolve().parents[2] / "examples" / "native_qiskit_primitives_demo"


def run_script(*args: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    if state is not None:
        env["QCSC_DEMO_STATE"] = str(state)
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_demo_prints_counts_and_expectation_values(tmp_path: Path) -> None:
    shots = 64
    done = run_script(
        str(DEMO_DIR / "flow.py"),
        "--primitive", "all", "--mode", "all", "--shots", str(shots),
        state=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "local Qiskit Runtime emulator" in out
    for mode in ("simple", "robust", "wrapper", "cached-robust"):
        assert f"== {mode}/sampler" in out and f"== {mode}/estimator" in out
    assert "this run created 8." in out
    for name in ("bell", "ghz3"):
        line = next(line for line in out.splitlines() if line.strip().startswith(name))
        counts = [int(n) for n in re.findall(r"[01]+: (\d+)", line)]
        more = re.search(r"\+(\d+) more", line)
        assert counts and (sum(counts) == shots or more is not None), line
    values = {
        label: float(value)
        for label, value in re.findall(r"<(\w+)> = ([+-]\d+\.\d+) ± \d+\.\d+", out)
    }
    assert set(values) == {"ZZ", "XX", "ZI"}
    assert values["ZZ"] > 0.5 and values["XX"] > 0.5 and abs(values["ZI"]) < 0.3
    rows, totals = usage_table(out)
    assert len(rows) == 8 and {row["mode"] for row in rows} == {"job"}
    assert totals["job id"] == "TOTAL (8 jobs)"


def usage_table(out: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The usage table the demo prints: its job rows and its totals row, by column heading."""
    lines = out[out.index("Usage of this flow run") :].splitlines()[1:]
    header = re.split(r" {2,}", lines[0].strip())
    rules = [index for index, line in enumerate(lines) if line.startswith("---")]
    assert len(rules) >= 2, lines[:20]

    def cells(line: str) -> dict[str, str]:
        # Empty cells (the totals row's) are spaces: slice by the rule's column positions.
        starts = [match.start() for match in re.finditer(r"-+", lines[rules[0]])]
        ends = [*starts[1:], None]
        return {
            name: line[start:end].strip()
            for name, start, end in zip(header, starts, ends, strict=True)
        }

    rows = [cells(line) for line in lines[rules[0] + 1 : rules[1]]]
    return rows, cells(lines[rules[1] + 1])


def test_demo_executor_primitives_run_in_one_batch(tmp_path: Path) -> None:
    done = run_script(
        str(DEMO_DIR / "flow.py"),
        "--primitive", "sampler", "--mode", "all", "--shots", "40",
        "--primitive-api", "executor", "--execution-mode", "batch",
        state=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "this run created 4." in out
    assert "Programs of the jobs this run created: executor (4)." in out
    rows, totals = usage_table(out)
    batches = [row for row in rows if row["job id"].startswith("BATCH ")]
    rows = [row for row in rows if row not in batches]
    assert len(rows) == 4
    (batch_row,) = batches  # the Batch's own usage, as the service reports it
    assert batch_row["mode"] == "batch" and float(batch_row["QPU s"]) > 0
    assert {row["mode"] for row in rows} == {"batch"}
    assert {row["origin"] for row in rows} == {"new"}
    assert {row["shots/precision"] for row in rows} == {"shots=40"}
    assert {row["status"] for row in rows} == {"DONE"}
    assert all(float(row["QPU s"]) > 0 for row in rows), rows
    assert totals["job id"] == "TOTAL (4 jobs)"
    assert totals["origin"] == "4 new, 0 reused, 0 cached"
    batch = re.search(r"The 4 job\(s\) of the usage table ran in 1 batch: (\S+) \(4 jobs\)\.", out)
    assert batch is not None, out[-2000:]


def test_demo_robust_rerun_is_cached_and_creates_no_job(tmp_path: Path) -> None:
    args = [
        str(DEMO_DIR / "flow.py"), "--primitive", "sampler", "--mode", "robust", "--shots", "55",
        "--enable-submit-cache", "--enable-fetch-retry", "--enable-result-cache",
        "--cache-scope", "flow",
    ]  # fmt: skip
    first = run_script(*args, state=tmp_path)
    second = run_script(*args, state=tmp_path)
    assert first.returncode == second.returncode == 0, second.stderr[-3000:]
    assert "this run created 1." in first.stdout
    assert "this run created 0." in second.stdout
    row = next(line for line in second.stdout.splitlines() if line.startswith("robust/sampler"))
    assert row.split()[2:3] == ["no"] and "Cached" in row


def test_demo_local_channel(tmp_path: Path) -> None:
    done = run_script(
        str(DEMO_DIR / "flow.py"), "--local", "--mode", "simple", "--shots", "32", state=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fake_manila" in done.stdout and "emulator" not in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--shots", "0"],
        ["--shots", "many"],
        ["--precision", "nan"],
        ["--mode", "nope"],
        ["--cache-scope", "flows"],
        ["--primitive", "executor"],
        ["--local", "--runtime-block", "x"],
        ["--primitive-api", "v1"],
        ["--local", "--execution-mode", "batch"],
    ],
)
def test_demo_rejects_bad_arguments(args: list[str]) -> None:
    done = run_script(str(DEMO_DIR / "flow.py"), *args)
    assert done.returncode == 2
    assert "error:" in done.stderr
    if "--local" in args and "--execution-mode" in args:
        (error,) = [line for line in done.stderr.splitlines() if "error:" in line]
        assert "local channel" in error and "--execution-mode job" in error
        assert done.stdout == ""  # refused before anything ran


def test_demo_keeps_a_blocks_token_out_of_task_parameters() -> None:
    name = f"demo-token-{uuid.uuid4().hex[:8]}"
    QiskitRuntimeConfig(backend_name="ibm_fez", token="not-a-real-key").save(name)
    done = run_script(str(DEMO_DIR / "flow.py"), "--runtime-block", name, "--primitive-api", "v2")
    assert done.returncode == 2
    (error,) = [line for line in done.stderr.splitlines() if "error:" in line]
    assert "stores a secret (token)" in error and "--primitive-api" in error
    assert "not-a-real-key" not in done.stdout + done.stderr


def test_existing_program_example() -> None:
    done = run_script(str(DEMO_DIR / "existing_program_task.py"))
    assert done.returncode == 0, done.stderr[-3000:]
    match = re.search(r"counts (\{.*\})", done.stdout)
    assert match is not None, done.stdout
    counts = ast.literal_eval(match.group(1))
    assert sum(counts.values()) == 100
