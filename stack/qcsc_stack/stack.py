"""The stack in one state directory, and the hosts that join it."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from .base import (
    _REPO,
    LOCK_DB,
    LOCK_ROLE,
    PREFECT_DB,
    PREFECT_ROLE,
    RESULTS_BLOCK,
    RESULTS_BLOCK_SLUG,
    Options,
    Secrets,
    StackError,
    State,
    _alive,
    _base_env,
    _port_open,
    _private_dir,
    _spawn,
    _stop_group,
    _venv_bin,
    _write_atomic,
    free_port,
)
from .postgres import Postgres

if TYPE_CHECKING:
    from pathlib import Path

# --- the stack ---------------------------------------------------------------------------------


class Stack:
    """The stack in one state directory.

    Args:
        directory: The state directory (``.stack`` by default).
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory.resolve()
        self.state_path = self.dir / "state.json"
        self.env_path = self.dir / "env"

    # paths
    @property
    def pg_dir(self) -> Path:
        """The PostgreSQL data directory."""
        return self.dir / "pg"

    @property
    def results_dir(self) -> Path:
        """The shared result storage directory."""
        return self.dir / "results"

    def host_dir(self, name: str) -> Path:
        """The directory of one simulated host."""
        return self.dir / "hosts" / name

    def up(self, options: Options) -> dict[str, str]:
        """Bring every component up (idempotently) and return the joining environment."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o711)  # postgres must traverse it to reach pg/; nobody lists it
        (self.dir / ".gitignore").write_text("*\n")
        state = State.load(self.state_path)
        creds = Secrets.load_or_create(self.dir / "secrets.json")
        state.pg_port = state.pg_port or free_port()
        state.server_port = state.server_port or free_port()
        state.emulator_port = state.emulator_port or free_port()
        state.save(self.state_path)

        emulator_started = self._start_emulator(state, creds, options)
        postgres = Postgres(self.pg_dir, state.pg_port)
        postgres.init()
        postgres.start()
        postgres.ensure_database(PREFECT_DB, PREFECT_ROLE, creds.prefect_password)
        postgres.ensure_database(LOCK_DB, LOCK_ROLE, creds.lock_password, connect_only=True)
        self._start_server(state, creds, options)
        state.save(self.state_path)
        emulator_env = self._emulator_env(state, emulator_started, options)
        env = self._joining_env(state, creds, emulator_env)
        _write_atomic(
            self.env_path, "".join(f"{k}={v}\n" for k, v in sorted(env.items())), mode=0o600
        )
        self._wait_http(f"http://127.0.0.1:{state.server_port}/api/health", options.timeout)
        self._prefect_setup(env, options)
        self._start_workers(state, env, options)
        state.save(self.state_path)
        return env

    def _start_emulator(self, state: State, creds: Secrets, options: Options) -> bool:
        if _alive(state.emulator_pid):
            return False
        emu_dir = _private_dir(self.dir / "emulator")
        describe = emu_dir / "describe.json"
        describe.unlink(missing_ok=True)
        # The API key goes in through a 0600 file, never argv (argv is world-readable in ps).
        key_file = emu_dir / "api-key"
        _write_atomic(key_file, creds.emulator_api_key + "\n", mode=0o600)
        argv = [
            sys.executable,
            "-m",
            "qcsc_runtime_emulator.cli",
            "serve",
            "--api-key-file",
            str(key_file),
            "--host",
            "127.0.0.1",
            "--port",
            str(state.emulator_port),
            "--state-dir",
            str(emu_dir / "state"),
            "--queue-delay",
            str(options.emulator_queue_delay),
        ]
        state.emulator_pid = _spawn(argv, env=_base_env(), log=describe, cwd=self.dir)
        return True

    def _emulator_env(self, state: State, started: bool, options: Options) -> dict[str, str]:
        describe = self.dir / "emulator" / "describe.json"
        deadline = time.monotonic() + options.timeout
        while time.monotonic() < deadline:
            for line in describe.read_text().splitlines() if describe.exists() else []:
                if line.startswith("{"):
                    info = json.loads(line)
                    env = {str(k): str(v) for k, v in info["env"].items()}
                    env["QCSC_EMULATOR_URL"] = str(info["url"])
                    return env
            if not _alive(state.emulator_pid):
                raise StackError(f"the emulator exited; see {describe}")
            time.sleep(0.2)
        raise StackError(f"the emulator did not start within {options.timeout} s")

    def _server_env(self, state: State, creds: Secrets) -> dict[str, str]:
        home = _private_dir(self.dir / "server") / "home"
        home.mkdir(parents=True, exist_ok=True)
        url = (
            f"postgresql+asyncpg://{PREFECT_ROLE}:{creds.prefect_password}"
            f"@127.0.0.1:{state.pg_port}/{PREFECT_DB}"
        )
        return {
            **_base_env(),
            "HOME": str(self.dir / "server"),
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": url,
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(state.server_port),
            "PREFECT_API_URL": f"http://127.0.0.1:{state.server_port}/api",
            # Every API request but GET /api/health and /api/ready needs this (basic auth).
            "PREFECT_SERVER_API_AUTH_STRING": creds.prefect_auth_string,
            "PREFECT_API_AUTH_STRING": creds.prefect_auth_string,
        }

    def _start_server(self, state: State, creds: Secrets, options: Options) -> None:
        if _alive(state.server_pid):
            return
        if _port_open(state.server_port):
            state.server_port = free_port()
        argv = [
            _venv_bin("prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(state.server_port),
        ]
        if not options.ui:
            argv.append("--no-ui")
        env = self._server_env(state, creds)
        log = self.dir / "server" / "server.log"
        state.server_pid = _spawn(argv, env=env, log=log, cwd=self.dir)

    def _joining_env(
        self, state: State, creds: Secrets, emulator_env: dict[str, str]
    ) -> dict[str, str]:
        lock_url = (
            f"postgresql://{LOCK_ROLE}:{creds.lock_password}@127.0.0.1:{state.pg_port}/{LOCK_DB}"
        )
        return {
            "PREFECT_API_URL": f"http://127.0.0.1:{state.server_port}/api",
            "PREFECT_API_AUTH_STRING": creds.prefect_auth_string,
            "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": RESULTS_BLOCK_SLUG,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "QCSC_QISKIT_LOCK_URL": lock_url,
            **emulator_env,
        }

    def _wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = exc
            time.sleep(0.3)
        raise StackError(f"{url} did not answer within {timeout} s ({last})")

    def _prefect_setup(self, env: dict[str, str], options: Options) -> None:
        """Save the shared-results block and create the work pool (in a child with the env)."""
        _private_dir(self.results_dir)  # job results and references: owner only
        home = self.dir / "server" / "client-home"
        child_env = {**_base_env(), **env, "PREFECT_HOME": str(home)}
        argv = [
            sys.executable,
            "-m",
            "qcsc_stack",
            "_setup",
            str(self.results_dir),
            options.work_pool if options.workers else "",
        ]
        result = subprocess.run(
            argv, env=child_env, capture_output=True, text=True, timeout=180, check=False
        )
        if result.returncode != 0:
            raise StackError(f"Prefect set-up failed: {result.stderr.strip()[-2000:]}")

    def _start_workers(self, state: State, env: dict[str, str], options: Options) -> None:
        for index in range(options.workers):
            name = f"worker-{index + 1}"
            if _alive(state.workers.get(name, 0)):
                continue
            state.workers[name] = start_host_worker(
                self.host_dir(name),
                env,
                pool=options.work_pool,
                name=name,
                limit=options.worker_limit,
                cwd=_REPO,
            )

    def down(self, *, clean: bool) -> None:
        """Stop workers, server, emulator and PostgreSQL; delete the directory if ``clean``."""
        if not self.dir.exists():
            return
        state = State.load(self.state_path)
        for pid in state.workers.values():
            _stop_group(pid)
        _stop_group(state.server_pid)
        _stop_group(state.emulator_pid)
        if (self.pg_dir / "PG_VERSION").exists():
            Postgres(self.pg_dir, state.pg_port).stop()
        state.workers = {}
        state.server_pid = state.emulator_pid = 0
        state.save(self.state_path)
        if clean:
            shutil.rmtree(self.dir)

    def status(self) -> dict[str, object]:
        """What runs, without secrets."""
        state = State.load(self.state_path)
        postgres_up = (self.pg_dir / "PG_VERSION").exists() and Postgres(
            self.pg_dir, state.pg_port
        ).running()
        return {
            "dir": str(self.dir),
            "postgres": {"port": state.pg_port, "running": postgres_up},
            "prefect_server": {
                "url": f"http://127.0.0.1:{state.server_port}/api",
                "running": _alive(state.server_pid),
            },
            "emulator": {
                "url": f"http://127.0.0.1:{state.emulator_port}",
                "running": _alive(state.emulator_pid),
            },
            "workers": {name: _alive(pid) for name, pid in state.workers.items()},
            "env_file": str(self.env_path),
        }


def host_env(host_dir: Path, joining_env: dict[str, str]) -> dict[str, str]:
    """The environment of one simulated host: its own HOME, PREFECT_HOME, lock dir and storage.

    Args:
        host_dir: The host's private directory (created).
        joining_env: The stack's ``env`` file contents: the only thing hosts share.
    """
    _private_dir(host_dir.parent)  # hosts/: each host's storage holds results
    for sub in ("home", "prefect-home", "locks", "storage"):
        (host_dir / sub).mkdir(parents=True, exist_ok=True)
    return {
        **_base_env(),
        **joining_env,
        "HOME": str(host_dir / "home"),
        "PREFECT_HOME": str(host_dir / "prefect-home"),
        "QCSC_QISKIT_LOCK_DIR": str(host_dir / "locks"),
        "PREFECT_LOCAL_STORAGE_PATH": str(host_dir / "storage"),
    }


def start_host_worker(
    host_dir: Path, joining_env: dict[str, str], *, pool: str, name: str, limit: int, cwd: Path
) -> int:
    """Start ``prefect worker start`` as one simulated host; return its process-group id."""
    argv = [_venv_bin("prefect"), "worker", "start", "--pool", pool, "--name", name]
    argv += ["--limit", str(limit), "--type", "process"]
    env = host_env(host_dir, joining_env)
    env["PREFECT_WORKER_QUERY_SECONDS"] = "2"
    return _spawn(argv, env=env, log=host_dir / "worker.log", cwd=cwd)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``KEY=VALUE`` file such as ``.stack/env``."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


def _setup_child(results_dir: str, work_pool: str) -> None:
    """Run inside a child that has the stack's env: save the results block, create the pool."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    from qcsc_prefect.integrations.qiskit import AtomicLocalFileSystem

    AtomicLocalFileSystem(basepath=results_dir).save(RESULTS_BLOCK, overwrite=True)
    if not work_pool:
        return

    async def create_pool() -> None:
        async with get_client() as client:
            with contextlib.suppress(ObjectAlreadyExists):
                await client.create_work_pool(
                    WorkPoolCreate(
                        name=work_pool,
                        type="process",
                        base_job_template=ProcessWorker.get_default_base_job_template(),
                    )
                )

    asyncio.run(create_pool())
