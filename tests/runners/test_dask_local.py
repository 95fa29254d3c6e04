"""The matrix under `DaskTaskRunner` with a `LocalCluster` of 2 worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit.blocks import QiskitRuntimeConfig
from qcsc_prefect.integrations.qiskit.fetch import fetch_qiskit_job_result_task
from qcsc_prefect.integrations.qiskit.jobs import JobReference
from qcsc_prefect.integrations.qiskit.submit import submit_sampler_job_task
from tests.runners.clusters import Runner, dask_local_cluster
from tests.runners.matrix import ProcessRunnerMatrix, assert_distinct_jobs


@pytest.fixture(scope="module")
def runner(runner_env: dict[str, str]) -> Iterator[Runner]:
    with dask_local_cluster(runner_env) as started:
        yield started


class TestDaskLocalCluster(ProcessRunnerMatrix):
    """Every scenario, on one `LocalCluster` shared by the module."""


def test_issue_flow_with_its_own_cluster(
    runtime_emulator: Any, runner_env: dict[str, str], isa_bell: QuantumCircuit
) -> None:
    # The reported flow verbatim: the runner creates (and closes) its own LocalCluster.
    from prefect_dask import DaskTaskRunner

    cluster_kwargs = {"n_workers": 2, "threads_per_worker": 1, "processes": True,
                      "dashboard_address": ":0", "env": runner_env}  # fmt: skip

    @flow(task_runner=DaskTaskRunner(cluster_kwargs=cluster_kwargs))
    def twice() -> tuple[list[JobReference], list[Any]]:
        cfg = QiskitRuntimeConfig(backend_name="ibm_fez")
        pubs = [isa_bell]
        submit, fetch = submit_sampler_job_task, fetch_qiskit_job_result_task
        futs = [submit.submit(pubs, runtime_config=cfg, shots=64) for _ in range(2)]
        refs = [f.result() for f in futs]
        outs = [fetch.submit(runtime_config=cfg, job_reference=r, pubs=pubs).result() for r in refs]
        return refs, outs

    refs, outputs = twice()
    assert_distinct_jobs(runtime_emulator, refs, outputs)
