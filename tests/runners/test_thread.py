"""The matrix under Prefect's default `ThreadPoolTaskRunner` (tasks in the flow's process)."""

from __future__ import annotations

import pytest

from tests.runners.clusters import Runner, thread_pool
from tests.runners.matrix import RunnerMatrix


@pytest.fixture(scope="module")
def runner() -> Runner:
    return thread_pool()


class TestThreadPool(RunnerMatrix):
    """Every scenario that applies to threads (no worker process to lose)."""
