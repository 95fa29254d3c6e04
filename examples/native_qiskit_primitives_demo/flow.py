"""Run native Qiskit Sampler and Estimator jobs through qcsc-prefect-qiskit's Prefect tasks.

Offline by default: the `local` channel with the `fake_manila` backend (a 5-qubit fake with
its own noise model, ~0.2 s per job), so no account and no server are needed.

    python examples/native_qiskit_primitives_demo/flow.py                  # everything, offline
    python examples/native_qiskit_primitives_demo/flow.py --primitive sampler --shots 1000
    python examples/native_qiskit_primitives_demo/flow.py --runtime-block ibm-runtime  # real jobs

Modes are registered in `MODES`; `--mode all` runs each registered mode in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from prefect import flow
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qcsc_prefect.integrations.qiskit import (
    FetchOutput,
    QiskitRuntimeConfig,
    run_estimator_task,
    run_sampler_task,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from qiskit.providers import BackendV2

PRIMITIVES = ("sampler", "estimator")
DEFAULT_LOCAL_BACKEND = "fake_manila"
OBSERVABLE_LABELS = ("ZZ", "XX", "ZI")  # Bell state: <ZZ> = <XX> = 1, <ZI> = 0


@dataclass(frozen=True)
class Settings:
    """What one demo run executes, shared by every mode."""

    shots: int
    precision: float
    runtime_config: QiskitRuntimeConfig | None
    runtime_block: str | None


@dataclass(frozen=True)
class Pubs:
    """The demo's ISA pubs for one backend."""

    sampler: list[QuantumCircuit]
    sampler_names: list[str]
    estimator: list[tuple[QuantumCircuit, list[SparsePauliOp]]]


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
    pass_manager = generate_preset_pass_manager(backend=backend, optimization_level=1)
    measured = [circuit.measure_all(inplace=False) for circuit in (bell, ghz)]
    isa_bell = pass_manager.run(bell)
    observables = [
        SparsePauliOp(label).apply_layout(isa_bell.layout) for label in OBSERVABLE_LABELS
    ]
    return Pubs(
        sampler=pass_manager.run(measured),
        sampler_names=[bell.name, ghz.name],
        estimator=[(isa_bell, observables)],
    )


# ----------------------------------------------------------------------------- modes


async def run_simple(primitive: str, pubs: Pubs, settings: Settings) -> FetchOutput:
    """Simple mode: one task submits, waits and records artifacts."""
    common = {
        "runtime_config": settings.runtime_config,
        "runtime_block_name": settings.runtime_block,
        "artifact_key": f"native-qiskit-{primitive}-simple",
    }
    if primitive == "sampler":
        return await run_sampler_task(pubs.sampler, shots=settings.shots, **common)
    return await run_estimator_task(pubs.estimator, precision=settings.precision, **common)


#: Mode name -> runner. Add a mode here and it becomes a `--mode` choice (and part of `all`).
MODES: dict[str, Callable[[str, Pubs, Settings], Awaitable[FetchOutput]]] = {
    "simple": run_simple,
}


# ----------------------------------------------------------------------------- flow


@flow(name="native-qiskit-primitives-demo", log_prints=False)
async def native_qiskit_primitives_demo(
    primitives: list[str],
    modes: list[str],
    shots: int = 100,
    precision: float = 0.05,
    runtime_block: str | None = None,
    backend_name: str = DEFAULT_LOCAL_BACKEND,
) -> dict[str, FetchOutput]:
    """Run each primitive in each mode; return the outputs keyed by ``"<mode>/<primitive>"``.

    Without ``runtime_block`` it runs offline on the local channel's ``backend_name``.
    """
    if runtime_block is not None:
        config = await QiskitRuntimeConfig.aload(runtime_block)
        settings = Settings(shots, precision, runtime_config=None, runtime_block=runtime_block)
    else:
        config = QiskitRuntimeConfig(backend_name=backend_name, channel="local")
        settings = Settings(shots, precision, runtime_config=config, runtime_block=None)
    backend = await asyncio.to_thread(config.get_backend)  # for transpilation only
    pubs = await asyncio.to_thread(build_pubs, backend)
    outputs: dict[str, FetchOutput] = {}
    for mode in modes:
        for primitive in primitives:
            outputs[f"{mode}/{primitive}"] = await MODES[mode](primitive, pubs, settings)
    return outputs


# ----------------------------------------------------------------------------- printing


def describe(label: str, output: FetchOutput, sampler_names: list[str]) -> str:
    """Readable text for one output: counts per pub, or expectation values per observable."""
    metadata = output["metadata"]
    timings = metadata.get("timings")
    wall = timings.get("wall_seconds") if isinstance(timings, dict) else None
    setting = (
        f"{metadata.get('shots')} shots"
        if output["primitive"] == "sampler"
        else f"precision {metadata.get('precision')}"
    )
    lines = [
        f"== {label}: job {output['job_id']} on {output['backend_name']}, {setting}, "
        f"{output['status']}" + (f" in {wall:.2f} s" if isinstance(wall, float) else "")
    ]
    if output["primitive"] == "sampler":
        for name, pub_result in zip(sampler_names, output["result"], strict=True):
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


# ----------------------------------------------------------------------------- command line


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run native Qiskit primitives through qcsc-prefect-qiskit Prefect tasks."
    )
    what = parser.add_argument_group("what to run")
    what.add_argument("--primitive", choices=(*PRIMITIVES, "all"), default="all")
    what.add_argument(
        "--mode",
        choices=(*MODES, "all"),
        default="all",
        help="execution mode; 'all' runs every mode in turn (default: all)",
    )
    what.add_argument("--shots", type=positive_int, default=100, help="sampler shots")
    what.add_argument(
        "--precision", type=positive_float, default=0.05, help="estimator target precision"
    )
    where = parser.add_argument_group("where to run")
    where.add_argument(
        "--runtime-block",
        metavar="NAME",
        help="saved QiskitRuntimeConfig Block to use (real Qiskit Runtime jobs); "
        "default: offline local channel",
    )
    where.add_argument(
        "--backend",
        default=DEFAULT_LOCAL_BACKEND,
        help=f"fake backend for the offline local channel (default: {DEFAULT_LOCAL_BACKEND})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    primitives = list(PRIMITIVES) if args.primitive == "all" else [args.primitive]
    modes = list(MODES) if args.mode == "all" else [args.mode]
    outputs = asyncio.run(
        native_qiskit_primitives_demo(
            primitives=primitives,
            modes=modes,
            shots=args.shots,
            precision=args.precision,
            runtime_block=args.runtime_block,
            backend_name=args.backend,
        )
    )
    print()
    for label, output in outputs.items():
        print(describe(label, output, sampler_names=["bell", "ghz3"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
