"""Smoke test of the benchmark runner at tiny sizes (`make bench`; never part of `make test`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "benchmarks" / "run.py"


@pytest.mark.bench
@pytest.mark.timeout(900)
def test_runner_quick_produces_the_table(tmp_path: Path) -> None:
    proc = subprocess.run(
        # The incumbent is left to the full run: the smoke test checks the runner, in ~2 min.
        [sys.executable, str(RUNNER), "--quick", "--no-incumbent", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=880,
        cwd=ROOT,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    markdown = (tmp_path / "latest.md").read_text()
    assert "| # | Figure |" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    numbers = {row.split("|")[1].strip() for row in rows[1:]}
    assert numbers == {"1", "2", "3", "4", "5", "6", "7", "8", "9"}
    for row in rows[1:]:
        ours = row.split("|")[4]
        assert "failed" not in ours, row
    assert markdown in proc.stdout  # printed to the terminal as well

    raw = json.loads((tmp_path / "latest.json").read_text())
    assert raw["overhead"]["calls"], "no per-call samples"
    # Structure only: the figures themselves are the benchmark's business, not this test's.
    assert set(raw["cached"]) >= {"native", "ours"}
    assert set(raw["duplicates"]["ours"]) == {"crash", "retry", "concurrent", "client-retry"}
    in_flight = raw["in_flight"]["runs"]
    assert {r["impl"] for r in in_flight} == {"native", "plain", "ours"}  # plain: the Prefect floor
    assert all(r["completed"] == r["jobs"] for r in in_flight)
    assert "wall minus makespan" in markdown
    scale = raw["scale"]["run"]
    assert scale["completed"] == scale["jobs"]
    assert {"wall", "makespan", "peak_threads", "peak_rss_mb"} <= set(scale)
    imports = raw["imports"]["runs"]
    assert imports and {r["impl"] for r in imports} == {"ours"}
    assert {"bare_cpu", "library_cpu", "library_modules", "watched"} <= set(imports[0])
