"""Scenario 6: every malformed argument of every public entry point submits nothing.

Each group below runs its malformed calls inside one real flow against the emulator and checks,
for every call: it fails, the error names the offending argument, and the emulator received no
``POST /jobs`` at all. A group reports every violation at once.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    QCSCEstimatorV2,
    QCSCSamplerV2,
    QiskitRuntimeConfig,
    build_qiskit_estimator_input_digest,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_estimator_submit_cache_key,
    qiskit_result_fetch_cache_key,
    qiskit_sampler_submit_cache_key,
    run_estimator_task,
    run_sampler_task,
    submit_estimator_job_task,
    submit_sampler_job_task,
)

FEZ = "ibm_fez"
NAN = math.nan
REPO = Path(__file__).resolve().parents[2]

Case = tuple[str, str, Callable[[], Awaitable[Any] | Any]]


def _cfg(**fields: Any) -> QiskitRuntimeConfig:
    return QiskitRuntimeConfig(backend_name=fields.pop("backend_name", FEZ), **fields)


def _names_argument(exc: BaseException, argument: str) -> bool:
    if getattr(exc, "argument", None) == argument:
        return True
    text = str(exc)
    return argument in text


async def _check_cases(
    runtime_emulator: Any, scenario: Any, cases: list[Case], *, in_flow: bool = True
) -> None:
    """Run every case; collect violations; assert none and that nothing was posted."""
    violations: list[str] = []

    async def run_all() -> None:
        for label, argument, call in cases:
            before = _posts(runtime_emulator)
            try:
                value = call()
                if hasattr(value, "__await__"):
                    value = await value
                if hasattr(value, "aoutput"):  # a wrapper job: the fetch may still fail
                    await value.aoutput()
            except Exception as exc:
                if not _names_argument(exc, argument):
                    violations.append(
                        f"{label}: {type(exc).__name__} does not name `{argument}`: {exc}"
                    )
            else:
                violations.append(f"{label}: accepted (returned {value!r:.80})")
            if _posts(runtime_emulator) != before:
                violations.append(f"{label}: POST /jobs reached the service")

    if in_flow:
        await flow(name=f"reliability-bad-input-{uuid.uuid4().hex[:8]}")(run_all)()
    else:
        await run_all()
    scenario.jobs(expected_live=0)
    scenario.result(not violations)
    scenario.note(f"{len(cases)} malformed calls")
    assert not violations, "\n".join(violations)
    assert runtime_emulator.control.job_count() == 0


def _posts(runtime_emulator: Any) -> int:
    return sum(
        1
        for entry in runtime_emulator.control.log()
        if entry["method"] == "POST" and entry["route_path"] == "/jobs"
    )


# --------------------------------------------------------------------------- the groups


def _sampler_value_cases(call: Callable[..., Any], pubs: list[Any]) -> list[Case]:
    """Bad shots, pubs and runtime arguments for any sampler-shaped call."""
    cfg = _cfg()
    return [
        ("shots=0", "shots", lambda: call(pubs, runtime_config=cfg, shots=0)),
        ("shots=-5", "shots", lambda: call(pubs, runtime_config=cfg, shots=-5)),
        ("shots=2.5", "shots", lambda: call(pubs, runtime_config=cfg, shots=2.5)),
        ("shots=nan", "shots", lambda: call(pubs, runtime_config=cfg, shots=NAN)),
        ("shots=True", "shots", lambda: call(pubs, runtime_config=cfg, shots=True)),
        ("shots='100'", "shots", lambda: call(pubs, runtime_config=cfg, shots="100")),
        ("pubs=[]", "pubs", lambda: call([], runtime_config=cfg, shots=10)),
        ("pubs=None", "pubs", lambda: call(None, runtime_config=cfg, shots=10)),
        ("pubs='circuit'", "pubs", lambda: call("circuit", runtime_config=cfg, shots=10)),
        ("pubs=[object]", "pubs", lambda: call([object()], runtime_config=cfg, shots=10)),
        ("options='x'", "options", lambda: call(pubs, runtime_config=cfg, shots=10, options="x")),
        (
            "options.environment=3",
            "options",
            lambda: call(pubs, runtime_config=cfg, shots=10, options={"environment": 3}),
        ),
        (
            "options unknown field",
            "options",
            lambda: call(pubs, runtime_config=cfg, shots=10, options={"no_such_option": 1}),
        ),
        ("neither config", "runtime_config", lambda: call(pubs, shots=10)),
        (
            "both configs",
            "runtime_block_name",
            lambda: call(pubs, runtime_config=cfg, runtime_block_name="x", shots=10),
        ),
        (
            "runtime_config=str",
            "runtime_config",
            lambda: call(pubs, runtime_config="ibm_fez", shots=10),
        ),
        (
            "unknown Block",
            "no-such-block",
            lambda: call(pubs, runtime_block_name=f"no-such-block-{uuid.uuid4().hex[:6]}"),
        ),
        ("empty Block name", "runtime_block_name", lambda: call(pubs, runtime_block_name="")),
        (
            "unknown backend",
            "ibm_nowhere",
            lambda: call(pubs, runtime_config=_cfg(backend_name="ibm_nowhere"), shots=10),
        ),
    ]


async def test_submit_sampler_task(
    runtime_emulator: Any,
    scenario: Any,
    isa_bell: QuantumCircuit,
    unmapped_bell: QuantumCircuit,
    isa_estimator_pub: tuple[Any, Any],
) -> None:
    pubs = [isa_bell]
    cfg = _cfg()
    task = submit_sampler_job_task
    estimator_digest = build_qiskit_estimator_input_digest(
        [isa_estimator_pub], backend_name=FEZ, cache_scope="global"
    )
    cases = [
        *_sampler_value_cases(task, pubs),
        ("not ISA", "pubs", lambda: task([unmapped_bell], runtime_config=cfg, shots=10)),
        (
            "precision= (estimator's argument)",
            "precision",
            lambda: task(pubs, runtime_config=cfg, precision=0.1),
        ),
        (
            "input_digest='abc'",
            "input_digest",
            lambda: task(pubs, runtime_config=cfg, input_digest="abc"),
        ),
        (
            "input_digest=123",
            "input_digest",
            lambda: task(pubs, runtime_config=cfg, input_digest=123),
        ),
        (
            "digest key fn without digest",
            "input_digest",
            lambda: task.with_options(
                cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
            )(pubs, runtime_config=cfg, shots=10),
        ),
        (
            "estimator key fn on the sampler task",
            "cache_key_fn",
            lambda: task.with_options(
                cache_key_fn=qiskit_estimator_submit_cache_key, persist_result=True
            )(pubs, runtime_config=cfg, shots=10, input_digest=estimator_digest),
        ),
    ]
    await _check_cases(runtime_emulator, scenario, cases)


async def test_submit_estimator_task(
    runtime_emulator: Any, scenario: Any, isa_estimator_pub: tuple[Any, Any], isa_bell: Any
) -> None:
    pubs = [isa_estimator_pub]
    cfg = _cfg()
    task = submit_estimator_job_task
    circuit, observables = isa_estimator_pub
    cases: list[Case] = [
        ("precision=0", "precision", lambda: task(pubs, runtime_config=cfg, precision=0)),
        ("precision=-0.1", "precision", lambda: task(pubs, runtime_config=cfg, precision=-0.1)),
        ("precision=nan", "precision", lambda: task(pubs, runtime_config=cfg, precision=NAN)),
        ("precision=inf", "precision", lambda: task(pubs, runtime_config=cfg, precision=math.inf)),
        ("precision='0.1'", "precision", lambda: task(pubs, runtime_config=cfg, precision="0.1")),
        ("precision=True", "precision", lambda: task(pubs, runtime_config=cfg, precision=True)),
        ("shots= (sampler's argument)", "shots", lambda: task(pubs, runtime_config=cfg, shots=10)),
        ("pubs=[]", "pubs", lambda: task([], runtime_config=cfg)),
        ("pub without observables", "pubs", lambda: task([(circuit,)], runtime_config=cfg)),
        ("sampler pub (measured circuit)", "pubs", lambda: task([isa_bell], runtime_config=cfg)),
        (
            "observable of the wrong width",
            "pubs",
            lambda: task([(circuit, "ZZZ")], runtime_config=cfg),
        ),
        (
            "parameter values for an unparametrised circuit",
            "pubs",
            lambda: task([(circuit, observables, [[0.1, 0.2]])], runtime_config=cfg),
        ),
        ("options=3", "options", lambda: task(pubs, runtime_config=cfg, options=3)),
        ("neither config", "runtime_config", lambda: task(pubs)),
        (
            "unknown backend",
            "ibm_nowhere",
            lambda: task(pubs, runtime_config=_cfg(backend_name="ibm_nowhere")),
        ),
    ]
    await _check_cases(runtime_emulator, scenario, cases)


async def test_simple_tasks(
    runtime_emulator: Any,
    scenario: Any,
    isa_bell: QuantumCircuit,
    isa_estimator_pub: tuple[Any, Any],
) -> None:
    cfg = _cfg()
    cases = [
        *_sampler_value_cases(run_sampler_task, [isa_bell]),
        (
            "artifact_key='Bad Key!'",
            "artifact_key",
            lambda: run_sampler_task([isa_bell], runtime_config=cfg, artifact_key="Bad Key!"),
        ),
        (
            "artifact_key=''",
            "artifact_key",
            lambda: run_sampler_task([isa_bell], runtime_config=cfg, artifact_key=""),
        ),
        (
            "estimator precision=nan",
            "precision",
            lambda: run_estimator_task([isa_estimator_pub], runtime_config=cfg, precision=NAN),
        ),
        (
            "estimator neither config",
            "runtime_config",
            lambda: run_estimator_task([isa_estimator_pub]),
        ),
    ]
    await _check_cases(runtime_emulator, scenario, cases)


async def test_fetch_task(runtime_emulator: Any, scenario: Any) -> None:
    cfg = _cfg()
    fetch = fetch_qiskit_job_result_task
    job = "a" * 20
    cases: list[Case] = [
        (
            "job_reference=None",
            "job_reference",
            lambda: fetch(runtime_config=cfg, job_reference=None),
        ),
        ("job_reference=''", "job_reference", lambda: fetch(runtime_config=cfg, job_reference="")),
        (
            "job_reference=123",
            "job_reference",
            lambda: fetch(runtime_config=cfg, job_reference=123),
        ),
        (
            "job_reference={}",
            "job_reference",
            lambda: fetch(runtime_config=cfg, job_reference={"job": "x"}),
        ),
        (
            "timeout=0",
            "timeout",
            lambda: fetch(runtime_config=cfg, job_reference=job, timeout=0),
        ),
        (
            "timeout=nan",
            "timeout",
            lambda: fetch(runtime_config=cfg, job_reference=job, timeout=NAN),
        ),
        (
            "poll_interval=-1",
            "poll_interval",
            lambda: fetch(runtime_config=cfg, job_reference=job, poll_interval=-1),
        ),
        (
            "max_poll_interval=inf",
            "max_poll_interval",
            lambda: fetch(runtime_config=cfg, job_reference=job, max_poll_interval=math.inf),
        ),
        (
            "request_timeout='5'",
            "request_timeout",
            lambda: fetch(runtime_config=cfg, job_reference=job, request_timeout="5"),
        ),
        (
            "artifact_key='UPPER'",
            "artifact_key",
            lambda: fetch(runtime_config=cfg, job_reference=job, artifact_key="UPPER"),
        ),
        ("neither config", "runtime_config", lambda: fetch(job_reference=job)),
        (
            "unknown job id",
            job,
            lambda: fetch(runtime_config=cfg, job_reference=job),
        ),
    ]
    await _check_cases(runtime_emulator, scenario, cases)


async def test_digests_and_cache_keys(
    runtime_emulator: Any,
    scenario: Any,
    isa_bell: QuantumCircuit,
    isa_estimator_pub: tuple[Any, Any],
) -> None:
    pubs = [isa_bell]
    sampler_digest = build_qiskit_sampler_input_digest
    estimator_digest = build_qiskit_estimator_input_digest
    cases: list[Case] = [
        ("backend_name=''", "backend_name", lambda: sampler_digest(pubs, backend_name="")),
        ("backend_name=None", "backend_name", lambda: sampler_digest(pubs, backend_name=None)),
        ("shots=0", "shots", lambda: sampler_digest(pubs, backend_name=FEZ, shots=0)),
        ("shots=nan", "shots", lambda: sampler_digest(pubs, backend_name=FEZ, shots=NAN)),
        (
            "cache_scope typo",
            "cache_scope",
            lambda: sampler_digest(pubs, backend_name=FEZ, cache_scope="flwo"),
        ),
        (
            "cache_scope=None",
            "cache_scope",
            lambda: sampler_digest(pubs, backend_name=FEZ, cache_scope=None),
        ),
        ("pubs=[]", "pubs", lambda: sampler_digest([], backend_name=FEZ)),
        (
            "options not serialisable",
            "options",
            lambda: sampler_digest(pubs, backend_name=FEZ, options={"x": object()}),
        ),
        (
            "estimator precision=-1",
            "precision",
            lambda: estimator_digest([isa_estimator_pub], backend_name=FEZ, precision=-1),
        ),
        (
            "sampler key without digest",
            "input_digest",
            lambda: qiskit_sampler_submit_cache_key(None, {}),
        ),
        (
            "estimator key with a bad digest",
            "input_digest",
            lambda: qiskit_estimator_submit_cache_key(None, {"input_digest": "zz"}),
        ),
        (
            "fetch key without reference",
            "job_reference",
            lambda: qiskit_result_fetch_cache_key(None, {}),
        ),
    ]
    await _check_cases(runtime_emulator, scenario, cases)


async def test_runtime_config_fields(runtime_emulator: Any, scenario: Any) -> None:
    cases: list[Case] = [
        ("no backend_name", "backend_name", lambda: QiskitRuntimeConfig()),
        ("backend_name=None", "backend_name", lambda: QiskitRuntimeConfig(backend_name=None)),
        ("channel typo", "channel", lambda: _cfg(channel="ibm_quantum_platfrom")),
        ("verify='maybe'", "verify", lambda: _cfg(verify="maybe")),
        ("proxies=3", "proxies", lambda: _cfg(proxies=3)),
        ("plans_preference='open'", "plans_preference", lambda: _cfg(plans_preference=3)),
    ]
    await _check_cases(runtime_emulator, scenario, cases, in_flow=False)


async def test_wrappers(
    runtime_emulator: Any,
    scenario: Any,
    isa_bell: QuantumCircuit,
    isa_estimator_pub: tuple[Any, Any],
) -> None:
    cfg = _cfg()
    sampler = QCSCSamplerV2(runtime_config=cfg)
    estimator = QCSCEstimatorV2(runtime_config=cfg)
    pubs = [isa_bell]
    epubs = [isa_estimator_pub]
    cases: list[Case] = [
        ("sampler neither config", "runtime_config", lambda: QCSCSamplerV2()),
        (
            "sampler both configs",
            "runtime_block_name",
            lambda: QCSCSamplerV2(runtime_config=cfg, runtime_block_name="x"),
        ),
        ("estimator config=dict", "runtime_config", lambda: QCSCEstimatorV2(runtime_config={})),
        (
            "wrapper unknown Block",
            "no-such-wrapper-block",
            lambda: QCSCSamplerV2(runtime_block_name="no-such-wrapper-block").arun(pubs, shots=5),
        ),
        ("shots=0", "shots", lambda: sampler.arun(pubs, shots=0)),
        ("shots=nan", "shots", lambda: sampler.arun(pubs, shots=NAN)),
        ("shots=nan cached", "shots", lambda: sampler.arun(pubs, shots=NAN, cache_submit=True)),
        ("precision=nan", "precision", lambda: estimator.arun(epubs, precision=NAN)),
        (
            "precision=0 cached",
            "precision",
            lambda: estimator.arun(epubs, precision=0, cache_submit=True),
        ),
        ("sampler precision=", "precision", lambda: sampler.arun(pubs, precision=0.1)),
        ("estimator shots=", "shots", lambda: estimator.arun(epubs, shots=10)),
        (
            "run_and_fetch precision= on sampler",
            "precision",
            lambda: sampler.arun_and_fetch(pubs, precision=0.1),
        ),
        ("robust='yes'", "robust", lambda: sampler.arun(pubs, shots=5, robust="yes")),
        ("cache_submit=1", "cache_submit", lambda: sampler.arun(pubs, shots=5, cache_submit=1)),
        (
            "cache_submit with robust=False",
            "robust",
            lambda: sampler.arun(pubs, shots=5, robust=False, cache_submit=True),
        ),
        (
            "cache_result with robust=False",
            "robust",
            lambda: estimator.arun(epubs, robust=False, cache_result=True),
        ),
        (
            "retry_fetch with robust=False",
            "robust",
            lambda: sampler.arun_and_fetch(pubs, shots=5, robust=False, retry_fetch=True),
        ),
        (
            "cache_scope typo",
            "cache_scope",
            lambda: sampler.arun(pubs, shots=5, cache_submit=True, cache_scope="gloabl"),
        ),
        (
            "cache_scope typo without cache_submit",
            "cache_scope",
            lambda: sampler.arun(pubs, shots=5, cache_scope="Flow"),
        ),
        (
            "cache_expiration=-1 day",
            "cache_expiration",
            lambda: sampler.arun(pubs, shots=5, cache_submit=True, cache_expiration=timedelta(-1)),
        ),
        (
            "cache_expiration=3600",
            "cache_expiration",
            lambda: sampler.arun(pubs, shots=5, cache_submit=True, cache_expiration=3600),
        ),
        ("timeout=nan (robust)", "timeout", lambda: sampler.arun(pubs, shots=5, timeout=NAN)),
        ("timeout=-1 (robust)", "timeout", lambda: sampler.arun(pubs, shots=5, timeout=-1)),
        (
            "artifact_key='Bad Key' (robust)",
            "artifact_key",
            lambda: sampler.arun(pubs, shots=5, artifact_key="Bad Key"),
        ),
        (
            "artifact_key='Bad Key' (simple)",
            "artifact_key",
            lambda: sampler.arun(pubs, shots=5, robust=False, artifact_key="Bad Key"),
        ),
        (
            "result_serializer typo",
            "result_serializer",
            lambda: sampler.arun(pubs, shots=5, cache_result=True, result_serializer="pikle"),
        ),
        ("options=3", "options", lambda: sampler.arun(pubs, shots=5, options=3)),
        ("pubs=[]", "pubs", lambda: sampler.arun([], shots=5)),
        ("pubs=[] cached", "pubs", lambda: sampler.arun([], shots=5, cache_submit=True)),
        (
            "run_and_fetch unknown keyword",
            "cache_submt",
            lambda: sampler.arun_and_fetch(pubs, shots=5, cache_submt=True),
        ),
    ]
    await _check_cases(runtime_emulator, scenario, cases)


# --------------------------------------------------------------------------- the demo CLI


def _demo() -> Any:
    path = REPO / "examples" / "native_qiskit_primitives_demo" / "flow.py"
    spec = importlib.util.spec_from_file_location("reliability_demo_flow", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_demo_cli_flags(
    runtime_emulator: Any, scenario: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = _demo()
    parser = demo.build_parser()
    flags = {action.dest: action for action in parser._actions}
    bad: list[tuple[list[str], str]] = [
        (["--shots", "0"], "--shots"),
        (["--shots", "-3"], "--shots"),
        (["--shots", "abc"], "--shots"),
        (["--shots", "nan"], "--shots"),
        (["--shots", "2.5"], "--shots"),
        (["--precision", "0"], "--precision"),
        (["--precision", "nan"], "--precision"),
        (["--precision", "inf"], "--precision"),
        (["--precision", "-0.1"], "--precision"),
        (["--primitive", "sampelr"], "--primitive"),
        (["--mode", "fast"], "--mode"),
        (["--runtime-block"], "--runtime-block"),
        (["--shtos", "5"], "--shtos"),
    ]
    if "cache_scope" in flags:
        bad.append((["--cache-scope", "flwo"], "--cache-scope"))
    violations = []
    for argv, flag in bad:
        with pytest.raises(SystemExit) as info:
            demo.main(argv)
        err = capsys.readouterr().err
        if info.value.code != 2 or flag not in err:
            violations.append(f"{argv}: exit {info.value.code}, stderr {err[-200:]!r}")
    scenario.jobs(expected_live=0)
    scenario.result(not violations)
    scenario.note(f"{len(bad)} malformed command lines")
    assert not violations, "\n".join(violations)
    assert runtime_emulator.control.job_count() == 0


@pytest.fixture(scope="module")
def unmapped_bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit
