#!/usr/bin/env bash
# Runs once, on an empty data directory (postgres image entrypoint). NOT EXERCISED HERE.
# Passwords come from the container's environment, so they are never written to this file.
# Least privilege, as in stack/stack.py: the server's role owns its database; the lock role may
# only connect to the lock database (advisory locks need nothing more); PUBLIC may connect to
# neither.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username postgres <<SQL
CREATE ROLE prefect LOGIN PASSWORD '${PREFECT_DB_PASSWORD}';
CREATE DATABASE prefect OWNER prefect;
REVOKE ALL ON DATABASE prefect FROM PUBLIC;
CREATE ROLE qcsc_lock LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${LOCK_DB_PASSWORD}';
CREATE DATABASE qcsc_locks;
REVOKE ALL ON DATABASE qcsc_locks FROM PUBLIC;
GRANT CONNECT ON DATABASE qcsc_locks TO qcsc_lock;
SQL
