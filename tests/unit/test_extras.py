"""The optional extras: a missing one stops with an error that names it, before any submission."""

from __future__ import annotations

import asyncio
import sys

import pytest
from prefect import flow

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    RuntimeConfigError,
    run_sampler_task,
)
from qcsc_prefect.integrations.qiskit._extras import _release, has_extra, require_extra


def test_release_reads_the_numeric_head_of_a_version() -> None:
    assert _release("3.8.8") == (3, 8, 8)
    assert _release("0.151.0rc1") == (0, 151, 0)
    assert _release("3.9.1.dev4+g1234") == (3, 9, 1)


def test_the_development_venv_has_every_extra() -> None:
    assert has_extra("local")
    assert has_extra("postgres")
    require_extra("local")


@pytest.mark.parametrize(("extra", "module"), [("local", "qiskit_aer"), ("postgres", "asyncpg")])
def test_a_missing_extra_is_named_in_the_error(
    extra: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    assert not has_extra(extra)
    with pytest.raises(RuntimeConfigError, match=rf"pip install 'qcsc-prefect-qiskit\[{extra}\]'"):
        require_extra(extra)


def test_channel_local_without_qiskit_aer_fails_the_task_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qiskit import QuantumCircuit

    monkeypatch.setitem(sys.modules, "qiskit_aer", None)
    circuit = QuantumCircuit(1)
    circuit.measure_all()

    @flow
    async def local_flow() -> object:
        config = QiskitRuntimeConfig(channel="local", backend_name="fake_manila")
        return await run_sampler_task([circuit], runtime_config=config, shots=8)

    state = asyncio.run(local_flow(return_state=True))
    assert state.is_failed()
    with pytest.raises(RuntimeConfigError, match=r"\[local\]"):
        state.result()
