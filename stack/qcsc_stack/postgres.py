"""The stack's private PostgreSQL cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .base import (
    _MARKER,
    PG_KEEPALIVE_SETTINGS,
    StackError,
    _base_env,
)

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
