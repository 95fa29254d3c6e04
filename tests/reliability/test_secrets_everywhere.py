"""Scenario 5: the API key never leaks, whatever path it travels.

The emulator accepts only its own API key, so the token under test IS
``qcsc_runtime_emulator.DEFAULT_API_KEY``. To tell what the library leaked from what the test
put in the environment, ``QISKIT_IBM_TOKEN`` is removed for these tests (in-process and in the
worker process): the only way the key reaches the client is the token-bearing configuration,
inline or saved as a Block. Every path runs (simple tasks, robust submit/fetch under faults,
wrappers, errors, a crashed and rerun worker process), then everything that could hold text is
searched: the Prefect database files, PREFECT_HOME and result storage, logs, artifacts, flow
and task runs as the API returns them, captured log records, stdout/stderr of this process and
of the worker, and the text, traceback and pickle of every exception and result.
"""

from __future__ import annotations

import pickle
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
from pydantic import SecretStr

from qcsc_prefect.integrations.qiskit import (
    QCSCEstimatorV2,
    QCSCSamplerV2,
    QiskitRuntimeConfig,
    fetch_qiskit_job_result_task,
    run_estimator_task,
    run_sampler_task,
    submit_sampler_job_task,
)
from qcsc_runtime_emulator import DEFAULT_API_KEY
from tests.integration.test_secrets import read_all_pages

FEZ = "ibm_fez"
SECRET = DEFAULT_API_KEY


def _token_config(runtime_emulator: Any, **fields: Any) -> QiskitRuntimeConfig:
    kwargs = runtime_emulator.service_kwargs()
    return QiskitRuntimeConfig(
        backend_name=fields.pop("backend_name", FEZ),
        channel=kwargs["channel"],
        url=kwargs["url"],
        instance=kwargs["instance"],
        token=SecretStr(SECRET),
        **fields,
    )


def _database_files() -> list[Path]:
    url = str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    database = Path(url.split(":///", 1)[1])
    return [p for p in database.parent.iterdir() if p.name.startswith(database.name)]


def _files_containing(needle: str, roots: list[Path]) -> list[str]:
    found = []
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if needle.encode() in data:
                found.append(str(path))
    return found


def _where(needle: str, texts: list[str]) -> list[str]:
    """The neighbourhood of each leaked ``needle`` in ``texts`` (the secret itself masked)."""
    found = []
    for index, text in enumerate(texts):
        at = text.find(needle)
        if at >= 0:
            window = text[max(0, at - 300) : at + len(needle) + 100]
            found.append(f"text {index}: ...{window.replace(needle, '<SECRET>')}...")
    return found


async def _prefect_text() -> str:
    await APILogWorker.drain_all(timeout=10)  # type: ignore[misc]
    async with get_client() as client:
        logs = await read_all_pages(client.read_logs)
        artifacts = await read_all_pages(client.read_artifacts)
        flow_runs = await read_all_pages(client.read_flow_runs)
        task_runs = await read_all_pages(client.read_task_runs)
    parts = [log.message for log in logs]
    parts += [repr(a.data) + repr(a.description) for a in artifacts]
    parts += [run.model_dump_json() for run in [*flow_runs, *task_runs]]
    return "\n".join(parts)


def _exception_texts(exc: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(exc)), repr(exc)]
    try:
        texts.append(pickle.dumps(exc).decode("latin-1"))
    except Exception as pickle_error:
        texts.append(repr(pickle_error))
    return texts


@pytest.fixture
def no_env_token(runtime_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the configuration carries the key: anything found was leaked by the code."""
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)


async def test_token_never_leaks_on_any_path(
    runtime_emulator: Any,
    no_env_token: None,
    isa_bell: Any,
    isa_estimator_pub: Any,
    state_dir: Path,
    start_worker: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    scenario: Any,
) -> None:
    control = runtime_emulator.control
    control.configure(queue_delay=2.0)  # the client's duplicate is cancelled before it runs
    inline = _token_config(runtime_emulator)
    block_name = f"reliability-secret-{uuid.uuid4().hex[:8]}"
    await inline.asave(block_name)
    texts: list[str] = []  # every exception and result text seen by "the user"
    outputs: list[Any] = []

    @flow(name=f"reliability-secrets-{uuid.uuid4().hex[:8]}")
    async def every_path() -> None:
        # Simple mode, inline and by Block name.
        outputs.append(
            await run_sampler_task([isa_bell], runtime_config=inline, shots=11, artifact_key="s-a")
        )
        outputs.append(
            await run_estimator_task(
                [isa_estimator_pub], runtime_block_name=block_name, precision=0.2
            )
        )
        # Robust mode through faults: lost POST answer, client POST retry, 503 while polling.
        control.add_fault("POST", r"^/jobs$", {"create_then_reset": True})
        ref = await submit_sampler_job_task([isa_bell], runtime_block_name=block_name, shots=12)
        control.add_fault("POST", r"^/jobs$", {"create_then_status": 502})
        control.add_fault("GET", r"^/jobs/[^/]+$", {"status": 503}, times=2)
        ref2 = await submit_sampler_job_task([isa_bell], runtime_config=inline, shots=13)
        for reference in (ref, ref2):
            outputs.append(
                await fetch_qiskit_job_result_task(
                    runtime_config=inline, job_reference=reference, artifact_key="s-b"
                )
            )
        # Wrappers, inline and by Block name, cached.
        sampler = QCSCSamplerV2(runtime_config=inline)
        outputs.append(
            await sampler.arun_and_fetch(
                [isa_bell], shots=14, cache_submit=True, cache_result=True, retry_fetch=True
            )
        )
        estimator = QCSCEstimatorV2(runtime_block_name=block_name)
        job = await estimator.arun([isa_estimator_pub], precision=0.2, cache_submit=True)
        outputs.append(await job.aoutput())
        # Error paths: an unknown backend, a rejected key, an IAM outage.
        for call in (
            lambda: run_sampler_task(
                [isa_bell], runtime_config=_token_config(runtime_emulator, backend_name="nope")
            ),
            lambda: fetch_qiskit_job_result_task(
                runtime_config=inline.model_copy(update={"url": inline.url + "/x"}),
                job_reference=ref.job_id,
            ),
        ):
            try:
                await call()
            except Exception as exc:
                texts.extend(_exception_texts(exc))
        from qcsc_prefect.integrations.qiskit._runtime import services

        services.clear_caches()
        control.add_fault("POST", r"^/identity/token$", {"status": 500}, times=20)
        try:
            await run_sampler_task([isa_bell], runtime_block_name=block_name, shots=5)
        except Exception as exc:
            texts.extend(_exception_texts(exc))
        control.clear_faults()

    await every_path()
    for output in outputs:
        texts.append(repr(output))
        texts.append(pickle.dumps(output).decode("latin-1"))

    # A worker process that uses the Block, crashes after POST, and is rerun.
    worker_args = ("--block", block_name, "--shots", "15")
    no_token: dict[str, str | None] = {"QISKIT_IBM_TOKEN": None}
    crashed = start_worker(*worker_args, "--crash-at", "after-post", extra_env=no_token).finish()
    rerun = start_worker(*worker_args, "--fetch", extra_env=no_token).finish()
    assert rerun.process.returncode == 0, rerun.stderr[-3000:]
    texts += [crashed.stdout, crashed.stderr, rerun.stdout, rerun.stderr]

    # Positive controls: the searches do see this test's records.
    prefect_text = await _prefect_text()
    assert outputs[0]["job_id"] in prefect_text
    assert _files_containing(outputs[0]["job_id"], _database_files())

    captured = capfd.readouterr()
    leaks = {
        "exceptions, results, worker output": sum(SECRET in text for text in texts),
        "prefect API (logs, artifacts, runs)": prefect_text.count(SECRET),
        "database, PREFECT_HOME, result storage": len(
            _files_containing(SECRET, [*_database_files(), state_dir])
        ),
        "log records": caplog.text.count(SECRET),
        "stdout/stderr": (captured.out + captured.err).count(SECRET),
    }
    scenario.leaks(sum(leaks.values()))
    scenario.result(all(len(o["result"]) == 1 for o in outputs) and rerun.events()[-1]["counts"])
    # 2 simple + 3 robust (one more created by the client's POST retry, cancelled) + 2 wrapper
    # + 1 worker job.
    scenario.jobs(expected_live=7)
    assert scenario.row.jobs_created == 8 and scenario.row.duplicates == 0
    scenario.note(f"{len(outputs)} results, {len(texts)} texts searched")
    if sum(leaks.values()):
        pytest.fail(f"the key leaked: {leaks}\n" + "\n".join(_where(SECRET, texts)))
