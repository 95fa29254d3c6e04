"""``serve`` takes its API key from a file or the environment, never from the process list."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qcsc_runtime_emulator import DEFAULT_API_KEY

SERVE = [sys.executable, "-m", "qcsc_runtime_emulator.cli", "serve"]


def _iam_status(url: str, api_key: str) -> int:
    """HTTP status of the emulated IAM's token request for ``api_key``."""
    data = urllib.parse.urlencode(
        {"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": api_key}
    ).encode()
    request = urllib.request.Request(url + "/identity/token", data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start ``serve`` with extra arguments and environment; stop it afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
        proc = subprocess.Popen(
            [*SERVE, *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        return proc, json.loads(line)

    yield start
    for proc in started:
        proc.terminate()
        proc.communicate(timeout=30)


def _command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.parametrize("source", ["file", "environment"])
def test_the_key_is_read_without_appearing_on_the_command_line(
    serve: Any, tmp_path: Path, source: str
) -> None:
    key = secrets.token_hex(20)
    if source == "file":
        key_file = tmp_path / "api-key"
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        proc, info = serve(["--api-key-file", str(key_file)], {})
    else:
        proc, info = serve([], {"QCSC_EMULATOR_API_KEY": key})
    assert key not in _command_line(proc.pid)
    assert info["env"]["QISKIT_IBM_TOKEN"] == key
    assert _iam_status(info["url"], key) == 200
    assert _iam_status(info["url"], DEFAULT_API_KEY) == 400


def test_the_key_file_beats_the_environment(serve: Any, tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("from-the-file")
    _, info = serve(["--api-key-file", str(key_file)], {"QCSC_EMULATOR_API_KEY": "from-env"})
    assert _iam_status(info["url"], "from-the-file") == 200
    assert _iam_status(info["url"], "from-env") == 400


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--api-key-file", "{missing}"], {}, "cannot read the API key file"),
        (["--api-key-file", "{empty}"], {}, "is empty"),
        ([], {"QCSC_EMULATOR_API_KEY": " "}, "QCSC_EMULATOR_API_KEY is set but empty"),
        (["--api-key-file", "{empty}", "--api-key", "k"], {}, "not allowed with argument"),
    ],
)
def test_a_missing_or_empty_key_stops_serve_with_a_reason(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    (tmp_path / "empty").write_text("\n")
    paths = {"missing": str(tmp_path / "missing"), "empty": str(tmp_path / "empty")}
    result = subprocess.run(
        [*SERVE, *(arg.format(**paths) for arg in args)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
