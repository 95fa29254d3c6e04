#!/usr/bin/env bash
# Runs once, on an empty data directory (postgres image entrypoint). NOT EXERCISED HERE.
# Passwords come from the container's environment, so they are never written to this file.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username postgres <<SQL
CREATE ROLE prefect LOGIN PASSWORD '${PREFECT_DB_PASSWORD}';
CREATE DATABASE prefect OWNER prefect;
CREATE ROLE qcsc_lock LOGIN PASSWORD '${LOCK_DB_PASSWORD}';
CREATE DATABASE qcsc_locks OWNER qcsc_lock;
SQL
