"""The matrix under `prefect_ray.RayTaskRunner` on a local Ray instance (2 CPUs).

Marked ``cluster``: `make test-runners` runs it (and `.ci/run` calls that too), so that `make test`
stays within its time budget; threads and the Dask LocalCluster run in `make test`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runners.clusters import Runner, ray_local_cluster
from tests.runners.matrix import ProcessRunnerMatrix

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def runner(runner_env: dict[str, str]) -> Iterator[Runner]:
    with ray_local_cluster(runner_env) as started:
        yield started


class TestRay(ProcessRunnerMatrix):
    """Every scenario, on one Ray instance shared by the module."""
