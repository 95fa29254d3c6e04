"""The library on qiskit-ibm-runtime's next minor: SamplerV2/EstimatorV2 gone from the client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("client_without_v2.py")


def test_executor_users_run_without_the_v2_classes(
    runtime_emulator: Any, worker_env: dict[str, str]
) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert (outcome["simple"], outcome["robust"], outcome["wrapper"]) == (32, 32, 32)
    message = outcome["v2_error"]
    assert "no longer provides SamplerV2" in message
    assert 'primitive_api="executor"' in message
    assert runtime_emulator.control.job_count() == 3
