"""The matrix under `DaskTaskRunner(address=...)`: a scheduler and 2 workers started with the
``dask`` CLI as separate processes, as on a real distributed cluster.

Marked ``cluster``: `make test-runners` runs it (`.ci/run` calls that too), so that `make test`
stays within its time budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runners.clusters import Runner, dask_cli_cluster
from tests.runners.matrix import ProcessRunnerMatrix

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def runner(
    worker_env_full: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runner]:
    with dask_cli_cluster(worker_env_full, tmp_path_factory.mktemp("dask-cli")) as started:
        yield started


class TestDaskCliCluster(ProcessRunnerMatrix):
    """Every scenario, on one scheduler and 2 workers shared by the module."""
