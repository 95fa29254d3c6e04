"""The stack's names, state files, secrets and process helpers."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
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
#: The repository (the stack runs from a checkout): the default state directory is `.stack/` in it.
_REPO: Final = _HERE.parents[1]
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
