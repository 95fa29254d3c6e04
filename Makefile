# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bootstrapped
# `make test-compat`: the oldest Prefect we admit, in its own venv (constraints-compat.txt).
COMPAT_VENV := .venv-compat
COMPAT_PY := $(COMPAT_VENV)/bin/python
COMPAT_STAMP := $(COMPAT_VENV)/.bootstrapped
COMPAT_TESTS := tests/integration/test_robust_submit.py tests/integration/test_robust_fetch.py \
	tests/integration/test_result_cache_serializer.py tests/integration/test_wrappers.py \
	tests/reliability/test_crash_windows.py tests/unit/test_cache_keys.py tests/prefect_contract
BOOTSTRAP_INPUTS := constraints.txt requirements-dev.txt stack/pyproject.toml \
	packages/qcsc-prefect-qiskit/pyproject.toml packages/qcsc-runtime-emulator/pyproject.toml

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: venv test test-runners test-slow test-compat demo reliability bench lint typecheck check clean \
	stack-up stack-down stack-status load chaos example-sqd

venv: $(STAMP)

$(STAMP): $(BOOTSTRAP_INPUTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt \
		-e "packages/qcsc-prefect-qiskit[local,postgres]" -e packages/qcsc-runtime-emulator -e stack \
		-r requirements-dev.txt
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

$(COMPAT_STAMP): $(BOOTSTRAP_INPUTS) constraints-compat.txt
	@test -x $(COMPAT_PY) || $(PYTHON) -m venv $(COMPAT_VENV)
	grep -v '^prefect==' constraints.txt > $(COMPAT_VENV)/constraints.txt
	cat constraints-compat.txt >> $(COMPAT_VENV)/constraints.txt
	$(COMPAT_PY) -m pip install --quiet --upgrade pip
	$(COMPAT_PY) -m pip install --quiet -c $(COMPAT_VENV)/constraints.txt \
		-e "packages/qcsc-prefect-qiskit[local,postgres]" -e packages/qcsc-runtime-emulator -e stack \
		-r requirements-dev.txt
	@touch $(COMPAT_STAMP)

# The suite's core on the oldest Prefect we admit, then the clean-install tests (our wheels in
# empty venvs, without constraints). Not part of CI: it builds three venvs; docs/development.md
# gives its duration.
test-compat: $(COMPAT_STAMP)
	$(COMPAT_PY) -m pytest -q -p no:randomly $(COMPAT_TESTS); core=$$?; \
		$(COMPAT_PY) -m pytest -q -p no:randomly -m install tests/install && exit $$core

demo: $(STAMP)
	$(PY) examples/native_qiskit_primitives_demo/flow.py --primitive all --mode all

# The adversarial suite, slow scenarios included; prints the summary table and writes
# tests/reliability/last-summary.md.
reliability: $(STAMP)
	$(PY) -m pytest tests/reliability -q -p no:randomly -m "not bench" -rfE

# Benchmarks (never part of `make test`): the full side-by-side run, then the runner's smoke test.
bench: $(STAMP)
	$(PY) benchmarks/run.py
	$(PY) -m pytest -q -m bench tests/bench

# The task-runner matrix on separately started clusters: a Dask scheduler with 2 workers, and Ray
# (threads and the Dask LocalCluster run in `make test`), and docs/hpc.md's commands on a stack
# with a worker; `.ci/run` calls it after `make test`.
test-runners: $(STAMP)
	$(PY) -m pytest -q -m cluster tests/runners tests/scaleout/test_hpc_page.py

# The SQD example (examples/sqd, docs/tutorial-sqd.md): installs qiskit-addon-sqd, ffsim and
# PySCF into .venv once (constraints-sqd.txt; never a dependency of the library), checks its
# helpers, then runs the flow, a crash and the rerun offline; ends with two RESULT lines.
SQD_STAMP := $(VENV)/.sqd-installed

$(SQD_STAMP): $(STAMP) constraints.txt constraints-sqd.txt
	$(PY) -m pip install --quiet -c constraints.txt -c constraints-sqd.txt \
		qiskit-addon-sqd ffsim pyscf
	$(PY) -m pip check
	@touch $(SQD_STAMP)

example-sqd: $(SQD_STAMP)
	$(PY) -m pytest -q -p no:randomly tests/examples/test_sqd_steps.py
	$(PY) examples/sqd/run_example.py

# The long tests `make test` skips (emulator error-matrix rows, soak scenarios).
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy packages/qcsc-prefect-qiskit/src packages/qcsc-runtime-emulator/src

check: lint typecheck test

# The production-shaped local stack: PostgreSQL, a Prefect server on it, the Runtime
# emulator and STACK_WORKERS process workers, all on loopback, state in .stack/ (see
# docs/deployment.md). `make stack-down` keeps the data; `make stack-down STACK_CLEAN=1` deletes it.
STACK_WORKERS ?= 2
STACK_WORKER_LIMIT ?= 4
STACK_CLEAN ?=

stack-up: $(STAMP)
	$(PY) -m qcsc_stack up --workers $(STACK_WORKERS) --limit $(STACK_WORKER_LIMIT)

stack-down: $(STAMP)
	$(PY) -m qcsc_stack down $(if $(STACK_CLEAN),--clean,)

stack-status: $(STAMP)
	$(PY) -m qcsc_stack status

# Load test on the running stack (never part of `make test`): 3 simulated hosts, 20 flow runs x
# 10 jobs, faults, a worker killed mid-run; fails unless created = live = distinct inputs.
load: $(STAMP)
	$(PY) benchmarks/load/load.py

# Faults of the shared services (never part of `make test`; needs root for network namespaces):
# its own stack in .stack-chaos/, 3 hosts submitting overlapping inputs while PostgreSQL
# restarts, the Prefect server restarts, a lock holder is cut off, a lock holder is frozen;
# fails on any duplicate that ran or any lost result (see docs/deployment.md).
chaos: $(STAMP)
	$(PY) benchmarks/chaos/chaos.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo-state
