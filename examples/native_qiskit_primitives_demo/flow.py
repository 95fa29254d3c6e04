"""Run native Qiskit Sampler and Estimator jobs through qcsc-prefect-qiskit, in every style.

Offline by default: without ``--runtime-block`` the demo starts the local Qiskit Runtime emulator
(``qcsc-runtime-emulator``, state kept in ``.demo-state/`` so reruns see the same jobs) and the
unmodified ``QiskitRuntimeService`` talks to it over HTTP. With ``--runtime-block NAME`` it loads
that saved ``QiskitRuntimeConfig`` Block and submits real jobs to IBM Quantum.

    python examples/native_qiskit_primitives_demo/flow.py                  # everything, offline
    python examples/native_qiskit_primitives_demo/flow.py --primitive sampler --mode robust \\
        --enable-submit-cache --enable-fetch-retry --enable-result-cache   # twice: Cached, no job

Modes (the guide's examples): ``simple`` (run_*_task), ``robust`` (submit/fetch tasks),
``wrapper`` (QCSCSamplerV2/QCSCEstimatorV2) and ``cached-robust`` (submit cache + fetch retry +
result cache, spelled out with ``with_options`` as in Example 4).

``--primitive-api executor`` runs every mode on qiskit-ibm-runtime's client-side executor
Sampler/Estimator instead of SamplerV2/EstimatorV2; ``--execution-mode batch`` (or ``session``)
puts every job of the run into one Batch (Session) that the flow run opens and closes. The run
ends with its usage table, read back from the ``qiskit-usage-<flow run id>`` artifact.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from prefect import flow
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qcsc_prefect.integrations.qiskit import (
    FetchOutput,
    QCSCEstimatorV2,
    QCSCSamplerV2,
    QiskitRuntimeConfig,
    UsageTable,
    aread_usage_table,
    build_qiskit_estimator_input_digest,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_estimator_submit_cache_key,
    qiskit_result_fetch_cache_key,
    qiskit_retry_delays,
    qiskit_sampler_submit_cache_key,
    run_estimator_task,
    run_sampler_task,
    should_retry_qiskit_fetch_failure,
    submit_estimator_job_task,
    submit_sampler_job_task,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from uuid import UUID

    from qiskit.providers import BackendV2

PRIMITIVES = ("sampler", "estimator")
PRIMITIVE_APIS = ("v2", "executor")
EXECUTION_MODES = ("job", "batch", "session")
EMULATOR_BACKEND = "ibm_fez"
LOCAL_BACKEND = "fake_manila"
OBSERVABLE_LABELS = ("ZZ", "XX", "ZI")  # Bell state: <ZZ> = <XX> = 1, <ZI> = 0
SAMPLER_NAMES = ("bell", "ghz3")
#: Where the emulator keeps its jobs between demo runs (git-ignored); QCSC_DEMO_STATE overrides.
DEMO_STATE = Path(
    os.environ.get("QCSC_DEMO_STATE") or Path(__file__).resolve().parents[2] / ".demo-state"
)


@dataclass(frozen=True)
class Settings:
    """What one demo run executes, shared by every mode."""

    shots: int
    precision: float
    runtime_config: QiskitRuntimeConfig | None
    runtime_block: str | None
    submit_cache: bool
    fetch_retry: bool
    result_cache: bool
    cache_scope: str

    @property
    def runtime(self) -> dict[str, Any]:
        """The ``runtime_config=``/``runtime_block_name=`` pair every task takes."""
        return {"runtime_config": self.runtime_config, "runtime_block_name": self.runtime_block}


@dataclass(frozen=True)
class Pubs:
    """The demo's ISA pubs for one backend."""

    sampler: list[QuantumCircuit]
    estimator: list[tuple[QuantumCircuit, list[SparsePauliOp]]]


@dataclass(frozen=True)
class Outcome:
    """One mode's result, plus how Prefect ran its submit and fetch steps."""

    output: FetchOutput
    submit_state: str
    fetch_state: str
    seconds: float


# ----------------------------------------------------------------------------- circuits


def build_pubs(backend: BackendV2) -> Pubs:
    """Bell and GHZ circuits for the sampler, a Bell state with observables for the estimator."""
    bell = QuantumCircuit(2, name="bell")
    bell.h(0)
    bell.cx(0, 1)
    ghz = QuantumCircuit(3, name="ghz3")
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(1, 2)
    pass_manager = generate_preset_pass_manager(
        backend=backend, optimization_level=1, seed_transpiler=1234
    )
    measured = [circuit.measure_all(inplace=False) for circuit in (bell, ghz)]
    isa_bell = pass_manager.run(bell)
    observables = [
        SparsePauliOp(label).apply_layout(isa_bell.layout) for label in OBSERVABLE_LABELS
    ]
    return Pubs(sampler=pass_manager.run(measured), estimator=[(isa_bell, observables)])


def _pubs_and_value(primitive: str, pubs: Pubs, settings: Settings) -> tuple[Any, dict[str, Any]]:
    if primitive == "sampler":
        return pubs.sampler, {"shots": settings.shots}
    return pubs.estimator, {"precision": settings.precision}


# ----------------------------------------------------------------------------- modes


async def run_simple(primitive: str, pubs: Pubs, settings: Settings) -> Outcome:
    """Example 2: one task submits, waits and records artifacts."""
    task = run_sampler_task if primitive == "sampler" else run_estimator_task
    circuits, value = _pubs_and_value(primitive, pubs, settings)
    started = time.monotonic()
    state = await task(
        circuits,
        **settings.runtime,
        **value,
        artifact_key=f"native-qiskit-{primitive}-simple",
        return_state=True,
    )
    return Outcome(await state.result(), "-", state.name, time.monotonic() - started)


def _fetch_options(settings: Settings, *, force: bool = False) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if settings.result_cache or force:
        options.update(
            cache_key_fn=qiskit_result_fetch_cache_key,
            persist_result=True,
            result_serializer="compressed/pickle",
        )
    if settings.fetch_retry or force:
        options.update(
            retries=len(qiskit_retry_delays()),
            retry_delay_seconds=qiskit_retry_delays(),
            retry_condition_fn=should_retry_qiskit_fetch_failure,
        )
    return options


async def _submit_and_fetch(
    primitive: str, pubs: Pubs, settings: Settings, *, mode: str, cache_everything: bool
) -> Outcome:
    circuits, value = _pubs_and_value(primitive, pubs, settings)
    sampler = primitive == "sampler"
    submit: Any = submit_sampler_job_task if sampler else submit_estimator_job_task
    digest: dict[str, Any] = {}
    if settings.submit_cache or cache_everything:
        backend_name = await _backend_name(settings)
        build = (
            build_qiskit_sampler_input_digest if sampler else build_qiskit_estimator_input_digest
        )
        digest["input_digest"] = build(
            circuits, backend_name=backend_name, cache_scope=settings.cache_scope, **value
        )
        submit = submit.with_options(
            cache_key_fn=(
                qiskit_sampler_submit_cache_key if sampler else qiskit_estimator_submit_cache_key
            ),
            persist_result=True,
        )
    started = time.monotonic()
    submitted = await submit(circuits, **settings.runtime, **value, **digest, return_state=True)
    reference = await submitted.result()
    options = _fetch_options(settings, force=cache_everything)
    fetch: Any = (
        fetch_qiskit_job_result_task.with_options(**options)
        if options
        else (fetch_qiskit_job_result_task)
    )
    fetched = await fetch(
        **settings.runtime,
        job_reference=reference,
        pubs=circuits,
        artifact_key=f"native-qiskit-{primitive}-{mode}",
        return_state=True,
    )
    return Outcome(await fetched.result(), submitted.name, fetched.name, time.monotonic() - started)


async def run_robust(primitive: str, pubs: Pubs, settings: Settings) -> Outcome:
    """Example 3 (plus the cache/retry flags): submit returns a job reference, fetch waits."""
    return await _submit_and_fetch(primitive, pubs, settings, mode="robust", cache_everything=False)


async def run_cached_robust(primitive: str, pubs: Pubs, settings: Settings) -> Outcome:
    """Example 4: submit cache by input digest, fetch retry and result cache, always on."""
    return await _submit_and_fetch(
        primitive, pubs, settings, mode="cached-robust", cache_everything=True
    )


async def run_wrapper(primitive: str, pubs: Pubs, settings: Settings) -> Outcome:
    """The wrapper classes: a Sampler/Estimator-shaped object routing to the same tasks."""
    circuits, value = _pubs_and_value(primitive, pubs, settings)
    cls: Any = QCSCSamplerV2 if primitive == "sampler" else QCSCEstimatorV2
    wrapper = cls(**settings.runtime)
    started = time.monotonic()
    job = await wrapper.arun(
        circuits,
        **value,
        cache_submit=settings.submit_cache,
        cache_result=settings.result_cache,
        retry_fetch=settings.fetch_retry,
        cache_scope=settings.cache_scope,
        artifact_key=f"native-qiskit-{primitive}-wrapper",
    )
    output = await job.aoutput()
    return Outcome(output, "-", "-", time.monotonic() - started)


#: Mode name -> runner. `--mode all` runs them in this order.
MODES: dict[str, Callable[[str, Pubs, Settings], Awaitable[Outcome]]] = {
    "simple": run_simple,
    "robust": run_robust,
    "wrapper": run_wrapper,
    "cached-robust": run_cached_robust,
}


async def _config(settings: Settings) -> QiskitRuntimeConfig:
    if settings.runtime_config is not None:
        return settings.runtime_config
    return await QiskitRuntimeConfig.aload(settings.runtime_block)


async def _backend_name(settings: Settings) -> str:
    return (await _config(settings)).backend_name


# ----------------------------------------------------------------------------- flow


@flow(name="native-qiskit-primitives-demo")
async def native_qiskit_primitives_demo(
    primitives: list[str],
    modes: list[str],
    settings: Settings,
) -> dict[str, Outcome]:
    """Run each primitive in each mode; return the outcomes keyed by ``"<mode>/<primitive>"``."""
    config = await _config(settings)
    backend = await asyncio.to_thread(config.get_backend)  # for transpilation
    pubs = await asyncio.to_thread(build_pubs, backend)
    outcomes: dict[str, Outcome] = {}
    for mode in modes:
        for primitive in primitives:
            outcomes[f"{mode}/{primitive}"] = await MODES[mode](primitive, pubs, settings)
    return outcomes


@dataclass(frozen=True)
class DemoRun:
    """One flow run: its outcomes, its usage table and the Batch/Session of each job."""

    flow_run_id: UUID
    outcomes: dict[str, Outcome]
    usage: UsageTable
    execution_mode: str
    sessions: dict[str, str | None]


async def run_demo(primitives: list[str], modes: list[str], settings: Settings) -> DemoRun:
    """Run the flow, then read back what the library recorded about its jobs."""
    state = await native_qiskit_primitives_demo(primitives, modes, settings, return_state=True)
    outcomes: dict[str, Outcome] = await state.aresult()
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    usage = await aread_usage_table(flow_run_id)
    config = await _config(settings)
    sessions: dict[str, str | None] = {}
    if config.execution_mode != "job":
        job_ids = [str(row["job_id"]) for row in usage.jobs]
        sessions = await asyncio.to_thread(_session_ids, config, job_ids)
    return DemoRun(flow_run_id, outcomes, usage, config.execution_mode, sessions)


def _session_ids(config: QiskitRuntimeConfig, job_ids: list[str]) -> dict[str, str | None]:
    """The Batch/Session id of each job, as the service reports it."""
    service = config.get_service()
    return {job_id: service.job(job_id).session_id for job_id in job_ids}


# ----------------------------------------------------------------------------- printing


def headline(output: FetchOutput) -> str:
    """The most telling numbers of a result: top counts, or expectation values."""
    if output["primitive"] == "sampler":
        parts = []
        for name, pub_result in zip(SAMPLER_NAMES, output["result"], strict=True):
            counts = pub_result.data.meas.get_counts()
            top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:2]
            parts.append(f"{name} " + " ".join(f"{k}:{v}" for k, v in top))
        return "; ".join(parts)
    data = output["result"][0].data
    return "  ".join(
        f"<{label}>={ev:+.2f}±{std:.2f}"
        for label, ev, std in zip(
            OBSERVABLE_LABELS, np.ravel(data.evs), np.ravel(data.stds), strict=True
        )
    )


def describe(label: str, output: FetchOutput) -> str:
    """Readable text for one output: counts per pub, or expectation values per observable."""
    metadata = output["metadata"]
    setting = (
        f"{metadata.get('shots')} shots"
        if output["primitive"] == "sampler"
        else f"precision {metadata.get('precision')}"
    )
    lines = [f"== {label}: job {output['job_id']} on {output['backend_name']}, {setting}"]
    if output["primitive"] == "sampler":
        for name, pub_result in zip(SAMPLER_NAMES, output["result"], strict=True):
            counts = pub_result.data.meas.get_counts()
            ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            shown = "  ".join(f"{outcome}: {count}" for outcome, count in ordered[:6])
            more = f"  (+{len(ordered) - 6} more)" if len(ordered) > 6 else ""
            lines.append(f"   {name:<5} counts  {shown}{more}")
    else:
        data = output["result"][0].data
        for label_, ev, std in zip(
            OBSERVABLE_LABELS, np.ravel(data.evs), np.ravel(data.stds), strict=True
        ):
            lines.append(f"   <{label_}> = {ev:+.3f} ± {std:.3f}")
    return "\n".join(lines)


def summary_table(outcomes: dict[str, Outcome], known_jobs: set[str] | None) -> str:
    """A small table per mode: job id, backend, status, cached or not, time, headline.

    ``known_jobs``: job ids that existed before this run (``None`` when unknown, on IBM).
    """
    header = (
        "mode/primitive", "job id", "new job", "backend", "status", "submit", "fetch", "time",
        "result",
    )  # fmt: skip
    rows = [
        (
            label,
            o.output["job_id"],
            "?" if known_jobs is None else ("no" if o.output["job_id"] in known_jobs else "yes"),
            o.output["backend_name"],
            o.output["status"],
            o.submit_state,
            o.fetch_state,
            f"{o.seconds:.2f} s",
            headline(o.output),
        )
        for label, o in outcomes.items()
    ]
    return render_table(header, rows)


def render_table(
    header: tuple[str, ...], rows: list[tuple[Any, ...]], *, footer: tuple[Any, ...] | None = None
) -> str:
    """Left-aligned columns under a dashed rule; ``footer`` goes under a second rule."""
    everything = [header, *rows, *([footer] if footer is not None else [])]
    widths = [max(len(str(row[i])) for row in everything) for i in range(len(header))]
    rule = tuple("-" * width for width in widths)
    shown = [header, rule, *rows, *([rule, footer] if footer is not None else [])]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in shown
    ]
    return "\n".join(line.rstrip() for line in lines)


#: The usage artifact's columns, and the headings the demo prints for them.
USAGE_COLUMNS = (
    ("job_id", "job id"),
    ("primitive", "primitive"),
    ("backend", "backend"),
    ("mode", "mode"),
    ("origin", "origin"),
    ("queue_seconds", "queue s"),
    ("qpu_seconds", "QPU s"),
    ("shots_or_precision", "shots/precision"),
    ("status", "status"),
)


def usage_table(run: DemoRun) -> str:
    """The flow run's usage artifact as text: one row per job and Batch/Session, then the totals."""
    key = f"qiskit-usage-{run.flow_run_id}"
    if not run.usage.jobs:
        return f"No usage table was recorded ({key}): no job finished in this flow run."

    def cell(value: object) -> str:
        if value is None:
            return "-"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    table = [*run.usage.jobs, *run.usage.sessions, run.usage.totals]
    *rows, totals = [tuple(cell(row.get(name)) for name, _ in USAGE_COLUMNS) for row in table]
    header = tuple(heading for _, heading in USAGE_COLUMNS)
    title = f"Usage of this flow run (Prefect table artifact {key}):"
    return title + "\n" + render_table(header, rows, footer=totals)


def programs_line(emulator: Any, known_jobs: set[str]) -> str:
    """The Qiskit Runtime programs of the jobs this run created on the emulator."""
    programs = Counter(
        str(job["program"]) for job in emulator.control.jobs() if job["id"] not in known_jobs
    )
    if not programs:
        return "This run created no job on the emulator."
    shown = ", ".join(f"{program} ({count})" for program, count in sorted(programs.items()))
    return f"Programs of the jobs this run created: {shown}."


def sessions_line(run: DemoRun) -> str | None:
    """Which Batch/Session the flow run's jobs ran in (``None`` in job mode)."""
    if run.execution_mode == "job" or not run.sessions:
        return None
    groups = Counter(run.sessions.values())
    noun = "batch" if run.execution_mode == "batch" else "session"
    plural = {"batch": "batches", "session": "sessions"}[noun] if len(groups) != 1 else noun
    parts = ", ".join(
        f"{session_id or f'outside any {noun}'} ({count} job{'s' if count != 1 else ''})"
        for session_id, count in groups.items()
    )
    jobs = len(run.sessions)
    return f"The {jobs} job(s) of the usage table ran in {len(groups)} {plural}: {parts}."


# ----------------------------------------------------------------------------- command line


def positive_int(text: str) -> int:
    """An argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a positive, finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run native Qiskit primitives through qcsc-prefect-qiskit's Prefect tasks, "
        "in each style of the guide. Without --runtime-block everything runs offline on the "
        "local Qiskit Runtime emulator.",
        epilog="Run robust sampler mode twice with --enable-submit-cache to see the second "
        "submit Cached and no new job.",
    )
    what = parser.add_argument_group("what to run")
    what.add_argument(
        "--primitive", choices=(*PRIMITIVES, "all"), default="all", help="default: all"
    )
    what.add_argument(
        "--mode",
        choices=(*MODES, "all"),
        default="all",
        help="simple: run_*_task (Example 2); robust: submit/fetch tasks (Example 3); wrapper: "
        "QCSCSamplerV2/QCSCEstimatorV2; cached-robust: submit cache + fetch retry + result cache "
        "(Example 4); all: each in turn (default)",
    )
    what.add_argument("--shots", type=positive_int, default=100, help="sampler shots (100)")
    what.add_argument(
        "--precision", type=positive_float, default=0.05, help="estimator precision (0.05)"
    )
    cache = parser.add_argument_group("caching and retries (robust and wrapper modes)")
    cache.add_argument(
        "--enable-submit-cache",
        action="store_true",
        help="cache the job reference by input digest: an identical rerun reuses the job",
    )
    cache.add_argument(
        "--enable-fetch-retry",
        action="store_true",
        help="retry the fetch on transient failures (never the submit)",
    )
    cache.add_argument(
        "--enable-result-cache",
        action="store_true",
        help="persist fetched results by job id: a rerun restores them without the service",
    )
    cache.add_argument(
        "--cache-scope",
        choices=("flow", "global"),
        default="flow",
        help="flow: reruns of this flow share submit cache entries (default); global: any flow "
        "with the same inputs does",
    )
    how = parser.add_argument_group("Qiskit Runtime API and execution mode")
    how.add_argument(
        "--primitive-api",
        choices=PRIMITIVE_APIS,
        help="v2: SamplerV2/EstimatorV2 (default); executor: qiskit-ibm-runtime's client-side "
        "executor Sampler/Estimator (program executor). With --runtime-block the Block's own "
        "setting applies unless this is given",
    )
    how.add_argument(
        "--execution-mode",
        choices=EXECUTION_MODES,
        help="job: each job on its own (default); batch/session: every job of the flow run in "
        "one Batch/Session that the flow run opens and closes (not with --local). With "
        "--runtime-block the Block's own setting applies unless this is given",
    )
    where = parser.add_argument_group("where to run")
    target = where.add_mutually_exclusive_group()
    target.add_argument(
        "--runtime-block",
        metavar="NAME",
        help="saved QiskitRuntimeConfig Block: submits REAL Qiskit Runtime jobs; default: the "
        "local emulator",
    )
    target.add_argument(
        "--local",
        action="store_true",
        help=f"use Qiskit's local channel ({LOCAL_BACKEND}) instead of the emulator; only "
        "simple mode and same-process submit/fetch apply",
    )
    return parser


MISSING_EMULATOR = (
    "The local Qiskit Runtime emulator (qcsc-runtime-emulator) is not installed in this "
    "environment: add it with `pip install -e packages/qcsc-runtime-emulator` (with uv: `uv run "
    "--package qcsc-prefect-qiskit --with-editable packages/qcsc-runtime-emulator python ...`), "
    "or pass --local (Qiskit's local simulator) or --runtime-block NAME (real IBM Quantum jobs)."
)


def _start_emulator() -> Any:
    try:
        from qcsc_runtime_emulator import RuntimeEmulator
    except ModuleNotFoundError as exc:
        if exc.name != "qcsc_runtime_emulator":
            raise
        raise SystemExit(MISSING_EMULATOR) from None

    emulator = RuntimeEmulator(state_dir=DEMO_STATE / "emulator").start()
    os.environ.update(emulator.env())
    print(
        f"No --runtime-block: using the local Qiskit Runtime emulator at {emulator.url} "
        f"(state in {DEMO_STATE}). No IBM Quantum account is used.",
        flush=True,
    )
    return emulator


def _runtime_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The QiskitRuntimeConfig fields the command line sets (``primitive_api``, ...)."""
    given = {"primitive_api": args.primitive_api, "execution_mode": args.execution_mode}
    return {name: value for name, value in given.items() if value is not None}


def _block_with(name: str, overrides: dict[str, str], parser: argparse.ArgumentParser) -> Any:
    """The saved Block ``name`` with ``overrides`` applied, as an unsaved copy.

    A Block holding a secret (its token or lock URL) is refused: the copy would carry the
    secret in task parameters.
    """
    saved = QiskitRuntimeConfig.load(name)
    secrets = [field for field in ("token", "lock_url") if getattr(saved, field) is not None]
    if secrets:
        flags = " and ".join("--" + field.replace("_", "-") for field in overrides)
        parser.error(
            f"the Block {name!r} stores a secret ({', '.join(secrets)}), so the demo will not "
            f"copy it into task parameters to apply {flags}; save those settings in the Block "
            "instead"
        )
    fields = {field: getattr(saved, field) for field in QiskitRuntimeConfig.model_fields}
    return QiskitRuntimeConfig(**{**fields, **overrides})


def _describe_runtime(overrides: dict[str, str]) -> str | None:
    """One line saying which primitives and execution mode the flags chose."""
    parts = []
    if overrides.get("primitive_api") == "executor":
        parts.append("primitives: the client-side executor Sampler/Estimator (program executor)")
    elif "primitive_api" in overrides:
        parts.append("primitives: SamplerV2/EstimatorV2")
    mode = overrides.get("execution_mode")
    if mode in ("batch", "session"):
        parts.append(f"execution mode: {mode} (one {mode} for the whole flow run)")
    elif mode is not None:
        parts.append("execution mode: job (each job on its own)")
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.local and args.execution_mode in ("batch", "session"):
        parser.error(
            f"--execution-mode {args.execution_mode} needs a Qiskit Runtime service: the local "
            f"channel runs jobs in-process and cannot hold a {args.execution_mode}. Drop --local "
            "to use the emulator, or use --execution-mode job"
        )
    primitives = list(PRIMITIVES) if args.primitive == "all" else [args.primitive]
    modes = list(MODES) if args.mode == "all" else [args.mode]
    overrides = _runtime_overrides(args)
    emulator = None
    runtime_block = args.runtime_block
    if args.runtime_block is not None:
        config = _block_with(runtime_block, overrides, parser) if overrides else None
        runtime_block = None if overrides else runtime_block
        print(f"Using saved Block {args.runtime_block!r}: these are real Qiskit Runtime jobs.")
    elif args.local:
        config = QiskitRuntimeConfig(backend_name=LOCAL_BACKEND, channel="local", **overrides)
    else:
        emulator = _start_emulator()
        config = QiskitRuntimeConfig(backend_name=EMULATOR_BACKEND, **overrides)
    if (chosen := _describe_runtime(overrides)) is not None:
        print(chosen, flush=True)
    settings = Settings(
        shots=args.shots,
        precision=args.precision,
        runtime_config=config,
        runtime_block=runtime_block,
        submit_cache=args.enable_submit_cache,
        fetch_retry=args.enable_fetch_retry,
        result_cache=args.enable_result_cache,
        cache_scope=args.cache_scope,
    )
    storage: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if emulator is not None and "PREFECT_LOCAL_STORAGE_PATH" not in os.environ:
        # Prefect's result cache lives and dies with the emulator's jobs: a cached reference to
        # a job this emulator never saw would be confusing.
        storage = temporary_settings(
            updates={PREFECT_LOCAL_STORAGE_PATH: DEMO_STATE / "prefect-results"}
        )
    known_jobs = {job["id"] for job in emulator.control.jobs()} if emulator is not None else None
    try:
        with storage:
            run = asyncio.run(run_demo(primitives, modes, settings))
        outcomes = run.outcomes
        print()
        for label, outcome in outcomes.items():
            print(describe(label, outcome.output))
        print()
        print(summary_table(outcomes, known_jobs))
        print(
            "\nsubmit/fetch: how Prefect ran the step (Cached = restored without calling the "
            "service); '-': not a separate task in this mode."
        )
        if emulator is not None and known_jobs is not None:
            total = emulator.control.job_count()
            print(f"The emulator holds {total} job(s); this run created {total - len(known_jobs)}.")
            if "primitive_api" in overrides:
                print(programs_line(emulator, known_jobs))
        print()
        print(usage_table(run))
        if (grouped := sessions_line(run)) is not None:
            print(grouped)
        print(
            "origin: new = submitted by this flow run, reused = an existing job adopted by its "
            "tag, cached = a job reference from an earlier flow run (its QPU time was counted "
            "there); a result restored from the cache adds no row."
        )
    finally:
        if emulator is not None:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
