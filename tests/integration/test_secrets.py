"""Tokens never reach Prefect's database, result storage, logs, artifacts, results or errors."""

from __future__ import annotations

import pickle
import traceback
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qcsc_prefect.integrations.qiskit import (
    FetchOutput,
    QCSCQiskitError,
    QiskitRuntimeConfig,
    run_sampler_task,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from prefect.client.schemas.objects import FlowRun


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return generate_preset_pass_manager(backend=FakeManilaV2(), optimization_level=1).run(circuit)


def new_token() -> str:
    return f"tok-{uuid.uuid4().hex}"


def database_files() -> list[Path]:
    url = str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    database = Path(url.split(":///", 1)[1])
    return [p for p in database.parent.iterdir() if p.name.startswith(database.name)]


def files_containing(secret: str, roots: list[Path]) -> list[Path]:
    needle = secret.encode()
    found = []
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        found += [path for path in paths if needle in path.read_bytes()]
    return found


async def read_all_pages(read: Callable[..., Awaitable[list[Any]]]) -> list[Any]:
    """Every record a Prefect client ``read_*`` call returns, page by page.

    The server returns at most one page (200 records) per call: a whole test run holds more
    logs than that, and the first page is then another test's.
    """
    found: list[Any] = []
    while True:
        page = await read(limit=200, offset=len(found))
        found += page
        if len(page) < 200:
            return found


async def everything_prefect_holds(flow_run_id: uuid.UUID) -> str:
    """Logs, artifacts, task runs and the flow run as the API returns them, as one text."""
    await APILogWorker.drain_all(timeout=10)  # type: ignore[misc]
    async with get_client() as client:
        logs = await read_all_pages(client.read_logs)
        artifacts = await read_all_pages(client.read_artifacts)
        flow_run: FlowRun = await client.read_flow_run(flow_run_id)
        task_runs = await read_all_pages(client.read_task_runs)
    parts = [log.message for log in logs]
    parts += [repr(artifact.data) for artifact in artifacts]
    parts += [task_run.model_dump_json() for task_run in task_runs]
    parts.append(flow_run.model_dump_json())
    return "\n".join(parts)


async def test_inline_token_warns_and_never_leaks(
    caplog: pytest.LogCaptureFixture, state_dir: Path
) -> None:
    token = new_token()

    @flow
    async def inline_token_flow() -> FetchOutput:
        runtime_config = QiskitRuntimeConfig(
            backend_name="fake_manila", channel="local", token=token
        )
        return await run_sampler_task(
            [bell()], runtime_config=runtime_config, shots=20, artifact_key="secret-check"
        )

    state = await inline_token_flow(return_state=True)
    output = await state.result()  # type: ignore[misc]
    assert sum(output["result"][0].data.meas.get_counts().values()) == 20

    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "token" in r.message]
    assert warnings, "expected a warning about the inline token"
    assert "runtime_block_name" in warnings[0].getMessage()
    assert token not in caplog.text

    assert token not in repr(output)
    assert token.encode() not in pickle.dumps(output)
    held = await everything_prefect_holds(state.state_details.flow_run_id)
    assert output["job_id"] in held  # positive control: the search sees this run's records
    assert token not in held
    assert files_containing(output["job_id"], database_files())  # positive control
    assert files_containing(token, [*database_files(), state_dir]) == []


async def test_token_passed_as_a_flow_parameter_is_not_stored_in_plain_text(
    state_dir: Path,
) -> None:
    token = new_token()

    @flow
    async def parametrised(runtime_config: QiskitRuntimeConfig) -> str:
        output = await run_sampler_task([bell()], runtime_config=runtime_config, shots=5)
        return output["job_id"]

    state = await parametrised(
        QiskitRuntimeConfig(backend_name="fake_manila", channel="local", token=token),
        return_state=True,
    )
    assert state.is_completed()
    assert token not in await everything_prefect_holds(state.state_details.flow_run_id)
    assert files_containing(token, [*database_files(), state_dir]) == []


async def test_saved_block_keeps_the_token_encrypted(state_dir: Path) -> None:
    token = new_token()
    name = f"secret-{uuid.uuid4().hex[:8]}"
    await QiskitRuntimeConfig(backend_name="fake_manila", channel="local", token=token).asave(name)

    @flow
    async def by_name() -> FetchOutput:
        return await run_sampler_task([bell()], runtime_block_name=name, shots=5)

    state = await by_name(return_state=True)
    assert state.is_completed()
    assert token not in await everything_prefect_holds(state.state_details.flow_run_id)
    assert files_containing(token, [*database_files(), state_dir]) == []
    loaded = await QiskitRuntimeConfig.aload(name)
    assert loaded.token is not None and loaded.token.get_secret_value() == token


def test_repr_and_str_hide_the_token() -> None:
    token = new_token()
    config = QiskitRuntimeConfig(backend_name="ibm_fez", token=token)
    for text in (repr(config), str(config), config.model_dump_json(), f"{config!r}"):
        assert token not in text


async def test_errors_while_building_the_service_do_not_show_the_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token = new_token()
    dead = "http://127.0.0.1:9"  # nothing listens: account set-up fails quickly
    for variable, value in {
        "IAM_URL": dead,
        "GLOBAL_SEARCH_URL": f"{dead}/gs",
        "GLOBAL_CATALOG_URL": f"{dead}/gc",
    }.items():
        monkeypatch.setenv(variable, value)

    @flow
    async def unreachable() -> FetchOutput:
        config = QiskitRuntimeConfig(
            backend_name="ibm_fez", channel="ibm_quantum_platform", token=token, url=dead
        )
        return await run_sampler_task([bell()], runtime_config=config, shots=5)

    state = await unreachable(return_state=True)
    assert state.is_failed()
    with pytest.raises(QCSCQiskitError) as info:
        await state.result()  # type: ignore[misc]
    assert token not in "".join(traceback.format_exception(info.value))
    assert token not in (state.message or "")
    assert token not in caplog.text
    assert token not in await everything_prefect_holds(state.state_details.flow_run_id)
