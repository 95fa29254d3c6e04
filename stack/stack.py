"""A production-shaped local stack: PostgreSQL, Prefect server, Runtime emulator, workers.

``python stack/stack.py up`` brings the stack up under ``.stack/`` (or ``--dir``) and writes
``<dir>/env``: the ``KEY=VALUE`` lines a process exports to join the stack (Prefect API and its
auth string, submit lock, shared result storage, the emulator's client variables). ``down``
stops everything and is safe to repeat; ``down --clean`` also deletes the directory. Every
listener binds 127.0.0.1.

Secure by default: the Prefect server requires its auth string (HTTP basic auth) on every API
request but its health probes; the lock role may only connect to the lock database (advisory
locks need nothing more); no secret is passed on a command line; the data directories are
readable by their owner only.

Layout of the state directory (mode 0711: ``postgres`` must traverse it to reach ``pg/``)::

    state.json        ports and process ids (no secrets)
    secrets.json      generated passwords, the Prefect API auth string, the emulator API key (0600)
    env               what a joining process exports (mode 0600)
    pg/               PostgreSQL cluster (owned by the ``postgres`` user when run as root)
    server/           the Prefect server's PREFECT_HOME and log (0700)
    emulator/         the emulator's API key file, persisted jobs and results, its log (0700)
    results/          the shared result storage, stands in for NFS or object storage (0700)
    hosts/<name>/     one simulated host per worker: HOME, PREFECT_HOME, lock dir, local storage
                      (hosts/ is 0700)

``up`` is idempotent: running pieces are left alone, stopped ones are started again with the
same ports, passwords and data.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

#: Name of the saved AtomicLocalFileSystem block that holds shared results (atomic writes: a
#: flow run reading a submit-cache record never sees it half rewritten by another).
RESULTS_BLOCK: Final = "qcsc-stack-results"
#: What PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK names: block type slug / block name.
RESULTS_BLOCK_SLUG: Final = f"atomic-local-file-system/{RESULTS_BLOCK}"
#: Name of the stack's process work pool.
WORK_POOL: Final = "qcsc-stack"
#: Database and role names (the passwords are generated).
PREFECT_DB: Final = "prefect"
PREFECT_ROLE: Final = "prefect"
LOCK_DB: Final = "qcsc_locks"
LOCK_ROLE: Final = "qcsc_lock"

#: Server-side TCP settings so that PostgreSQL notices a vanished client (lost host) quickly:
#: an idle session is probed after 5 s, every 2 s, and dropped after 3 unanswered probes, which
#: ends the holder's session and so releases its advisory locks (about 11 s in all).
PG_KEEPALIVE_SETTINGS: Final = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",
    "client_connection_check_interval": "2000",
}

_HERE: Final = Path(__file__).resolve().parent
_REPO: Final = _HERE.parent
_MARKER: Final = "qcsc-stack"


class StackError(RuntimeError):
    """The stack could not be brought up or down."""


@dataclass
class State:
    """Ports and process ids of a stack (written to ``state.json``; holds no secret)."""

    pg_port: int = 0
    server_port: int = 0
    emulator_port: int = 0
    server_pid: int = 0
    emulator_pid: int = 0
    workers: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> State:
        """Read ``state.json``; an absent file gives an empty state."""
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(**data)

    def save(self, path: Path) -> None:
        """Write ``state.json`` atomically."""
        _write_atomic(path, json.dumps(asdict(self), indent=2) + "\n", mode=0o644)


@dataclass(frozen=True)
class Secrets:
    """Generated credentials (``secrets.json``, mode 0600)."""

    prefect_password: str
    lock_password: str
    emulator_api_key: str
    #: ``user:password`` the Prefect server requires (HTTP basic auth) on its API.
    prefect_auth_string: str

    @classmethod
    def load_or_create(cls, path: Path) -> Secrets:
        """Read the stack's secrets, generating any that is missing (all on the first run).

        A ``secrets.json`` written before a secret existed gets it added, so an existing stack
        keeps its passwords and data when it is brought up again.
        """
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        fresh = {  # name -> (prefix, random bytes)
            "prefect_password": ("", 16),
            "lock_password": ("", 16),
            "emulator_api_key": ("", 20),
            "prefect_auth_string": ("qcsc:", 24),
        }
        values = {
            name: stored.get(name) or prefix + secrets.token_hex(size)
            for name, (prefix, size) in fresh.items()
        }
        if values != stored or path.stat().st_mode & 0o077:
            _write_atomic(path, json.dumps(values) + "\n", mode=0o600)
        return cls(**values)


@dataclass(frozen=True)
class Options:
    """What ``up`` should bring up."""

    directory: Path
    workers: int = 2
    worker_limit: int = 4
    ui: bool = True
    emulator_queue_delay: float = 0.0
    work_pool: str = WORK_POOL
    timeout: float = 120.0


def _write_atomic(path: Path, text: str, *, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs and was started by this script (its environment carries the marker)."""
    if pid <= 0:
        return False
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return not zombie and f"QCSC_STACK_MARKER={_MARKER}".encode() in environ


def _stop_group(pid: int, *, grace: float = 15.0) -> None:
    """SIGTERM the process group led by ``pid`` (a process this script started), then SIGKILL."""
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):  # the group's stragglers
        os.killpg(pid, signal.SIGKILL)


def _spawn(argv: list[str], *, env: dict[str, str], log: Path, cwd: Path) -> int:
    """Start a detached process group (stdout and stderr to ``log``) and return its pid."""
    env = {**env, "QCSC_STACK_MARKER": _MARKER}
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        os.close(fd)
    return proc.pid


def _base_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["DO_NOT_TRACK"] = "1"
    return env


def _venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


# --- PostgreSQL --------------------------------------------------------------------------------


class Postgres:
    """A private PostgreSQL cluster in ``<dir>/pg``, run as ``postgres`` when started as root.

    Args:
        data_dir: The cluster's data directory (also its unix-socket directory).
        port: TCP port on the listen addresses.
        listen: Addresses to listen on (loopback by default).
        hba_hosts: Extra client networks (CIDR) allowed to log in with a password.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        listen: tuple[str, ...] = ("127.0.0.1",),
        hba_hosts: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.listen = listen
        self.hba_hosts = hba_hosts
        self.bindir = find_pg_bindir(install=True)

    @property
    def _user(self) -> str | None:
        """Run the server as ``postgres`` when started as root (PostgreSQL refuses root)."""
        return "postgres" if os.geteuid() == 0 else None

    def _run(
        self, argv: list[str], *, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            cwd="/",
            env={**_base_env(), "LC_ALL": "C.UTF-8", "QCSC_STACK_MARKER": _MARKER},
            timeout=120,
            user=self._user,
            group=self._user,
        )
        if result.returncode != 0:
            raise StackError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-2000:]}")
        return result

    def init(self) -> None:
        """Create the cluster once (``initdb``), with loopback-only password logins."""
        if (self.data_dir / "PG_VERSION").exists():
            self._write_conf()
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
        self.data_dir.chmod(0o700)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ]
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("include_if_exists = 'stack.conf'\n")
        self._write_conf()

    def _write_conf(self) -> None:
        settings = {
            "listen_addresses": f"'{','.join(self.listen)}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.data_dir}'",
            "max_connections": "300",
            "shared_buffers": "'64MB'",
            "log_min_messages": "warning",
            **PG_KEEPALIVE_SETTINGS,
        }
        conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
        hba = "local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        hba += "".join(f"host all all {cidr} scram-sha-256\n" for cidr in self.hba_hosts)
        self._write_owned(self.data_dir / "stack.conf", conf)
        self._write_owned(self.data_dir / "pg_hba.conf", hba)

    def _write_owned(self, path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def running(self) -> bool:
        """Whether the cluster's postmaster runs."""
        result = subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            cwd="/",
            check=False,
            user=self._user,
            group=self._user,
        )
        return result.returncode == 0

    def start(self) -> None:
        """Start the cluster unless it runs."""
        if self.running():
            return
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.data_dir / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self) -> None:
        """Stop the cluster (fast shutdown) if it runs."""
        if (self.data_dir / "PG_VERSION").exists() and self.running():
            self._run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
            )

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser over the unix socket (statements via stdin, never argv)."""
        argv = [
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
        ]
        return self._run(argv, stdin=sql).stdout

    def dump(self, database: str) -> str:
        """Return ``pg_dump --data-only`` of ``database`` (for audits such as secret scans)."""
        argv = [str(self.bindir / "pg_dump"), "-h", str(self.data_dir), "-p", str(self.port)]
        argv += ["-U", "postgres", "--data-only", database]
        return self._run(argv).stdout

    def ensure_database(
        self, database: str, role: str, password: str, *, connect_only: bool = False
    ) -> None:
        """Create ``role`` (login, given password, no special powers) and ``database``.

        Idempotent. No other role may connect to ``database`` (``PUBLIC`` loses its default
        ``CONNECT`` and ``TEMP``). Privileges are set again on every call, so an older stack
        is brought to the same state.

        Args:
            database: The database.
            role: The login role that uses it.
            password: The role's password (sent over stdin, never argv).
            connect_only: ``False``: ``role`` owns ``database``. ``True``: the superuser owns
                it and ``role`` may only connect: no table, schema or temporary table, which
                is all advisory locks need.
        """
        owner = "postgres" if connect_only else role
        self.psql(
            f"""
            SELECT format('CREATE ROLE %I LOGIN', '{role}')
              WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') \\gexec
            ALTER ROLE "{role}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
              NOBYPASSRLS PASSWORD '{password}';
            SELECT format('CREATE DATABASE %I OWNER %I', '{database}', '{owner}')
              WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{database}') \\gexec
            ALTER DATABASE "{database}" OWNER TO "{owner}";
            REVOKE ALL ON DATABASE "{database}" FROM PUBLIC;
            GRANT CONNECT ON DATABASE "{database}" TO "{role}";
            """
        )
        if connect_only:  # PostgreSQL < 15 lets PUBLIC create in schema public
            self.psql("REVOKE CREATE ON SCHEMA public FROM PUBLIC;", database=database)


def find_pg_bindir(*, install: bool) -> Path:
    """Return PostgreSQL's server binary directory, installing Debian's package if allowed.

    Raises:
        StackError: No ``initdb`` was found (and installing was not allowed or failed).
    """
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout
        candidates.append(Path(out.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=False, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "postgresql"], check=False, env=env, capture_output=True
        )
        return find_pg_bindir(install=False)
    raise StackError("PostgreSQL server binaries (initdb, pg_ctl) not found")


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
            str(Path(__file__).resolve()),
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


def _summary(stack: Stack) -> str:
    status = stack.status()
    lines = [f"stack up in {status['dir']} (loopback only)"]
    for key in ("postgres", "prefect_server", "emulator", "workers"):
        lines.append(f"  {key}: {json.dumps(status[key])}")
    lines.append(f"  results block: {RESULTS_BLOCK_SLUG} -> {stack.results_dir}")
    lines.append(f"  join with: set -a; . {stack.env_path}; set +a   (mode 0600, holds secrets)")
    lines.append("  UI login: the value of PREFECT_API_AUTH_STRING in that file")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``up``, ``down``, ``status``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring the stack up (idempotent)")
    up.add_argument("--dir", type=Path, default=_REPO / ".stack")
    up.add_argument("--workers", type=int, default=int(os.environ.get("STACK_WORKERS", "2")))
    up.add_argument("--limit", type=int, default=int(os.environ.get("STACK_WORKER_LIMIT", "4")))
    up.add_argument("--no-ui", action="store_true", help="serve the API without the UI")
    up.add_argument("--queue-delay", type=float, default=0.0, help="emulator queue delay (s)")
    up.add_argument("--timeout", type=float, default=120.0)
    down = sub.add_parser("down", help="stop everything (safe to repeat)")
    down.add_argument("--dir", type=Path, default=_REPO / ".stack")
    down.add_argument("--clean", action="store_true", help="also delete the state directory")
    status = sub.add_parser("status", help="print what runs (no secrets)")
    status.add_argument("--dir", type=Path, default=_REPO / ".stack")
    setup = sub.add_parser("_setup")
    setup.add_argument("results_dir")
    setup.add_argument("work_pool")
    args = parser.parse_args(argv)

    if args.command == "_setup":
        _setup_child(args.results_dir, args.work_pool)
        return 0
    stack = Stack(args.dir)
    try:
        if args.command == "up":
            options = Options(
                directory=args.dir,
                workers=args.workers,
                worker_limit=args.limit,
                ui=not args.no_ui,
                emulator_queue_delay=args.queue_delay,
                timeout=args.timeout,
            )
            stack.up(options)
            print(_summary(stack))
        elif args.command == "down":
            stack.down(clean=args.clean)
            print(f"stack in {stack.dir} stopped" + (" and deleted" if args.clean else ""))
        else:
            print(json.dumps(stack.status(), indent=2))
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
