"""The stack is secure by default: an authenticated Prefect API, secrets nobody reads without it.

On the shared ``stack`` fixture (see conftest.py), a deployed flow run on the stack's worker
loads a `QiskitRuntimeConfig` Block whose ``token`` is the emulator's API key and whose
``lock_url`` holds the lock role's password. Then:

* every request to read Blocks with secrets, create a flow run or read runs, states, results
  and artifacts gets HTTP 401 without the auth string, with a wrong one and with the right one
  under the wrong scheme; the string from the stack's ``env`` file works;
* no secret of the stack appears in a process's command line while the run goes, nor in the
  server's, PostgreSQL's or the worker's logs, the artifacts, or a full dump of the database;
* the lock role can connect to the lock database and take advisory locks, nothing more; the
  result storage and the stack's other data directories are readable by their owner only.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

FLOW_SCRIPT = Path(__file__).with_name("secret_flow.py")
BLOCK_NAME = "stack-security"
RUN_TIMEOUT = 240.0
#: Credentials that must not get in: none, a wrong string, the right string as a Bearer token.
BAD_CREDENTIALS = {
    "none": None,
    "wrong": "Basic " + base64.b64encode(b"admin:not-the-auth-string").decode(),
    "right-string-wrong-scheme": "Bearer {auth}",
}
#: (method, API path, JSON body): reading Blocks with secrets, creating flow runs, reading
#: runs, their states (which hold the result records), results' storage and artifacts.
PROTECTED = [
    ("POST", "/block_documents/filter", {"include_secrets": True}),
    ("POST", "/flow_runs/", {"flow_id": "{flow_id}"}),
    # Created Cancelled, so that the worker does not run it when the right credential works.
    (
        "POST",
        "/deployments/{deployment_id}/create_flow_run",
        {"parameters": {"block_name": BLOCK_NAME}, "state": {"type": "CANCELLED"}},
    ),
    ("POST", "/flow_runs/filter", {}),
    ("GET", "/flow_runs/{flow_run_id}", None),
    ("GET", "/flow_run_states/?flow_run_id={flow_run_id}", None),
    ("POST", "/artifacts/filter", {}),
    ("GET", "/admin/version", None),
]


def _secrets(stack: Any) -> dict[str, str]:
    """Every generated secret of the stack, by name (the file is owner-only)."""
    data = json.loads((stack.dir / "secrets.json").read_text())
    return {str(name): str(value) for name, value in data.items()}


def _request(
    stack_env: dict[str, str], method: str, path: str, body: Any, authorization: str | None
) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(stack_env["PREFECT_API_URL"] + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def _basic(auth_string: str) -> str:
    return "Basic " + base64.b64encode(auth_string.encode()).decode()


def _command_lines() -> dict[int, str]:
    lines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            lines[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return lines


def _flow_run_ids(pids: Iterable[int]) -> dict[int, str]:
    """The flow run each process was started for, read from its environment.

    Prefect's workers start a flow run with ``python -m prefect.engine`` or, for a flow they
    hold in memory, as a direct subprocess; both set ``PREFECT__FLOW_RUN_ID``.
    """
    found: dict[int, str] = {}
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        for variable in environ.split(b"\0"):
            if variable.startswith(b"PREFECT__FLOW_RUN_ID="):
                found[pid] = variable.split(b"=", 1)[1].decode()
    return found


@pytest.fixture(scope="module")
def stack_env(stack: Any, stack_module: ModuleType) -> dict[str, str]:
    env: dict[str, str] = stack_module.read_env_file(stack.env_path)
    return env


@pytest.fixture(scope="module")
def secret_run(stack: Any, stack_module: ModuleType, stack_env: dict[str, str]) -> dict[str, Any]:
    """Save the Block, run the deployed flow on the stack's worker; sample /proc meanwhile."""
    env = stack_module.host_env(stack.host_dir("security-driver"), stack_env)
    seen: dict[int, str] = {}
    driver = subprocess.Popen(
        [sys.executable, str(FLOW_SCRIPT), BLOCK_NAME, stack_module.WORK_POOL],
        env=env,
        cwd=stack.dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + RUN_TIMEOUT
    flow_runs: dict[int, str] = {}
    while driver.poll() is None and time.monotonic() < deadline:
        lines = _command_lines()
        flow_runs.update(_flow_run_ids(lines.keys() - flow_runs.keys()))  # after exec too
        seen.update(lines)
        time.sleep(0.1)
    if driver.poll() is None:
        driver.kill()
    out, err = driver.communicate()
    assert driver.returncode == 0, err[-4000:]
    outcome: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    outcome["command_lines"] = seen
    outcome["flow_run_pids"] = {
        pid for pid, run in flow_runs.items() if run == outcome["flow_run_id"]
    }
    return outcome


@pytest.fixture(scope="module")
def flow_id(secret_run: dict[str, Any], stack: Any, stack_env: dict[str, str]) -> str:
    status, text = _request(
        stack_env,
        "GET",
        f"/flow_runs/{secret_run['flow_run_id']}",
        None,
        _basic(_secrets(stack)["prefect_auth_string"]),
    )
    assert status == 200, text
    return str(json.loads(text)["flow_id"])


@pytest.fixture
def fill(secret_run: dict[str, Any], flow_id: str) -> Iterator[Any]:
    """Fill ``{flow_run_id}``, ``{deployment_id}`` and ``{flow_id}`` into paths and bodies."""
    ids = {**secret_run, "flow_id": flow_id}

    def fill_in(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**{k: v for k, v in ids.items() if isinstance(v, str)})
        if isinstance(value, dict):
            return {key: fill_in(item) for key, item in value.items()}
        return value

    yield fill_in


def test_the_flow_run_reads_the_block_secret_through_the_authenticated_api(
    secret_run: dict[str, Any], stack: Any
) -> None:
    assert secret_run["state"] == "COMPLETED", secret_run["state"]
    assert secret_run["flow_run_pids"], "the worker's flow-run process was never seen"
    assert any(path.is_file() for path in stack.results_dir.rglob("*")), "no result persisted"


@pytest.mark.parametrize("credential", sorted(BAD_CREDENTIALS))
@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_the_api_answers_401_without_the_right_credential(
    stack: Any,
    stack_env: dict[str, str],
    fill: Any,
    credential: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    secrets = _secrets(stack)
    template = BAD_CREDENTIALS[credential]
    authorization = (
        None if template is None else template.format(auth=secrets["prefect_auth_string"])
    )
    status, text = _request(stack_env, method, fill(path), fill(body), authorization)
    assert status == 401, (status, text[:500])
    for value in secrets.values():
        assert value not in text


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_the_auth_string_of_the_env_file_is_let_in(
    stack: Any, stack_env: dict[str, str], fill: Any, method: str, path: str, body: Any
) -> None:
    assert stack_env["PREFECT_API_AUTH_STRING"] == _secrets(stack)["prefect_auth_string"]
    authorization = _basic(stack_env["PREFECT_API_AUTH_STRING"])
    status, text = _request(stack_env, method, fill(path), fill(body), authorization)
    assert status in (200, 201), (status, text[:500])
    if path == "/block_documents/filter":  # what the 401 protects: the key in clear
        assert _secrets(stack)["emulator_api_key"] in text


def test_health_probes_stay_open_and_tell_nothing(stack_env: dict[str, str]) -> None:
    status, text = _request(stack_env, "GET", "/health", None, None)
    assert (status, text) == (200, "true")


def test_the_ui_asks_the_browser_for_the_auth_string(stack: Any, stack_env: dict[str, str]) -> None:
    base = stack_env["PREFECT_API_URL"].removesuffix("/api")
    page = urllib.request.Request(base + "/", headers={"Accept": "text/html"})
    with urllib.request.urlopen(page, timeout=30) as response:
        assert response.status == 200 and "<html" in response.read().decode().lower()
    with urllib.request.urlopen(base + "/ui-settings", timeout=30) as response:
        assert json.loads(response.read())["auth"] == "BASIC"
    # The UI's login form sends the string as Basic credentials to this endpoint.
    login = _basic(stack_env["PREFECT_API_AUTH_STRING"])
    assert _request(stack_env, "GET", "/admin/version", None, login)[0] == 200
    assert _request(stack_env, "GET", "/admin/version", None, None)[0] == 401


@pytest.mark.parametrize("token", ["wrong", "right"])
def test_event_subscriptions_need_the_auth_string(stack_env: dict[str, str], token: str) -> None:
    url = stack_env["PREFECT_API_URL"].replace("http://", "ws://") + "/events/out"
    sent = stack_env["PREFECT_API_AUTH_STRING"] if token == "right" else "admin:wrong"
    with connect(url, subprotocols=["prefect"], open_timeout=30) as socket:  # type: ignore[list-item]
        socket.send(json.dumps({"type": "auth", "token": sent}))
        if token == "right":
            assert json.loads(socket.recv(timeout=30))["type"] == "auth_success"
        else:
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_no_process_shows_a_secret_on_its_command_line(
    secret_run: dict[str, Any], stack: Any, stack_module: ModuleType
) -> None:
    lines = {**secret_run["command_lines"], **_command_lines()}
    state = stack_module.State.load(stack.state_path)
    started = [state.server_pid, state.emulator_pid, *state.workers.values()]
    assert all(pid in lines for pid in started), "a process of the stack was not seen"
    assert any(f"-D {stack.pg_dir}" in line for line in lines.values()), "PostgreSQL not seen"
    assert secret_run["flow_run_pids"] <= lines.keys(), "no flow-run process seen"
    assert secret_run["flow_run_pids"], "no flow-run process seen"
    for name, value in _secrets(stack).items():
        shown = [pid for pid, line in lines.items() if value in line]
        assert shown == [], f"{name} on the command line of {shown}"


def test_secrets_stay_out_of_logs_artifacts_and_the_database(
    secret_run: dict[str, Any], stack: Any, stack_module: ModuleType, stack_env: dict[str, str]
) -> None:
    secrets = _secrets(stack)
    logs = [stack.dir / "server" / "server.log", stack.pg_dir / "server.log"]
    logs += sorted(stack.dir.glob("hosts/*/worker.log"))
    assert all(log.exists() for log in logs), logs
    status, artifacts = _request(
        stack_env, "POST", "/artifacts/filter", {}, _basic(secrets["prefect_auth_string"])
    )
    assert status == 200 and "stack-block-secret" in artifacts, "the run made no artifact"
    state = stack_module.State.load(stack.state_path)
    dump = stack_module.Postgres(stack.pg_dir, state.pg_port).dump(stack_module.PREFECT_DB)
    assert secret_run["flow_run_id"] in dump and BLOCK_NAME in dump
    texts = {str(log): log.read_text(errors="replace") for log in logs}
    texts |= {"artifacts": artifacts, "database dump": dump}
    for where, text in texts.items():
        for name, value in secrets.items():
            assert value not in text, f"{name} found in {where}"


async def test_the_lock_role_takes_advisory_locks_and_nothing_more(
    stack: Any, stack_module: ModuleType, stack_env: dict[str, str]
) -> None:
    lock_url = stack_env["QCSC_QISKIT_LOCK_URL"]
    first, second = await asyncpg.connect(lock_url), await asyncpg.connect(lock_url)
    try:
        assert await first.fetchval("SELECT pg_try_advisory_lock(4242)") is True
        assert await second.fetchval("SELECT pg_try_advisory_lock(4242)") is False
        owner = await first.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        )
        assert owner != stack_module.LOCK_ROLE
        powers = await first.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        )
        assert not any(powers.values())
        for statement in (
            "CREATE TABLE grabbed (x int)",
            "CREATE TEMP TABLE grabbed (x int)",
            "CREATE SCHEMA grabbed",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await first.execute(statement)
    finally:
        await first.close()
        await second.close()
    prefect_db_url = lock_url.rsplit("/", 1)[0] + "/" + stack_module.PREFECT_DB
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await asyncpg.connect(prefect_db_url)
    state = stack_module.State.load(stack.state_path)
    server_role_url = (
        f"postgresql://{stack_module.PREFECT_ROLE}:{_secrets(stack)['prefect_password']}"
        f"@127.0.0.1:{state.pg_port}/{stack_module.LOCK_DB}"
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await asyncpg.connect(server_role_url)


def test_result_storage_and_stack_data_are_owner_only(
    secret_run: dict[str, Any], stack: Any
) -> None:
    private = [stack.results_dir, stack.dir / "emulator", stack.dir / "server", stack.dir / "hosts"]
    for directory in private:
        assert directory.stat().st_mode & 0o077 == 0, f"{directory} is open to others"
    for name in ("secrets.json", "env"):
        assert (stack.dir / name).stat().st_mode & 0o077 == 0, name
    if os.geteuid() != 0:
        return
    # As another user: nothing under the result storage can even be listed.
    stored = [path for path in stack.results_dir.rglob("*") if path.is_file()]
    assert stored, "the run persisted no result"
    for target in (["ls", str(stack.results_dir)], ["cat", str(stored[0])]):
        denied = subprocess.run(
            target, user="nobody", capture_output=True, text=True, timeout=30, check=False
        )
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, target


def test_an_older_stack_gets_an_auth_string_and_keeps_its_secrets(
    tmp_path: Path, stack_module: ModuleType
) -> None:
    path = tmp_path / "secrets.json"
    older = {"prefect_password": "p" * 32, "lock_password": "l" * 32, "emulator_api_key": "k" * 40}
    path.write_text(json.dumps(older))
    path.chmod(0o644)
    upgraded = stack_module.Secrets.load_or_create(path)
    assert {name: getattr(upgraded, name) for name in older} == older
    user, _, password = upgraded.prefect_auth_string.partition(":")
    assert user and len(password) >= 32
    assert json.loads(path.read_text())["prefect_auth_string"] == upgraded.prefect_auth_string
    assert path.stat().st_mode & 0o777 == 0o600
    assert stack_module.Secrets.load_or_create(path) == upgraded
