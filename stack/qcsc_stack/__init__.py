"""A production-shaped local stack: PostgreSQL, Prefect server, Runtime emulator, workers.

``python -m qcsc_stack up`` (or ``python stack/stack.py up``) brings the stack up under
``.stack/`` (or ``--dir``) and writes ``<dir>/env``: the ``KEY=VALUE`` lines a process exports
to join the stack (Prefect API and its auth string, submit lock, shared result storage, the
emulator's client variables). ``down`` stops everything and is safe to repeat; ``down --clean``
also deletes the directory. Every listener binds 127.0.0.1. Tests and benchmarks import it as
``import qcsc_stack``.

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

from .base import (
    LOCK_DB,
    LOCK_ROLE,
    PG_KEEPALIVE_SETTINGS,
    PREFECT_DB,
    PREFECT_ROLE,
    RESULTS_BLOCK,
    RESULTS_BLOCK_SLUG,
    WORK_POOL,
    Options,
    Secrets,
    StackError,
    State,
    _venv_bin,
    free_port,
)
from .cli import main
from .postgres import Postgres, find_pg_bindir
from .stack import Stack, host_env, read_env_file, start_host_worker

__all__ = [
    "LOCK_DB",
    "LOCK_ROLE",
    "PG_KEEPALIVE_SETTINGS",
    "PREFECT_DB",
    "PREFECT_ROLE",
    "RESULTS_BLOCK",
    "RESULTS_BLOCK_SLUG",
    "WORK_POOL",
    "Options",
    "Postgres",
    "Secrets",
    "Stack",
    "StackError",
    "State",
    "_venv_bin",
    "find_pg_bindir",
    "free_port",
    "host_env",
    "main",
    "read_env_file",
    "start_host_worker",
]
