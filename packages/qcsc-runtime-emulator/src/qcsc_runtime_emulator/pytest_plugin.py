"""Pytest fixtures: ``runtime_emulator_server`` (session) and ``runtime_emulator``.

The plugin is registered through the ``pytest11`` entry point. It imports qiskit
only when a fixture is first used (in the main thread).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .server import RuntimeEmulator


@pytest.fixture(scope="session")
def runtime_emulator_server() -> Iterator[RuntimeEmulator]:
    """One emulator per test run (noise ``none``, state in memory)."""
    from .server import RuntimeEmulator

    with RuntimeEmulator() as emulator:
        yield emulator


@pytest.fixture
def runtime_emulator(
    runtime_emulator_server: RuntimeEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RuntimeEmulator]:
    """The session emulator with its :meth:`~RuntimeEmulator.env` applied for one test.

    The environment is restored and the emulator reset (jobs, sessions, faults,
    log, configuration) after the test.
    """
    for name, value in runtime_emulator_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("QISKIT_FUNCTIONS_EXPERIMENTAL", raising=False)
    runtime_emulator_server.reset()
    try:
        yield runtime_emulator_server
    finally:
        runtime_emulator_server.reset()
