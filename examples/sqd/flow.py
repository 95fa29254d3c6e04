"""Sample-based quantum diagonalization (SQD) of N2, orchestrated by qcsc-prefect-qiskit.

The quantum half runs in the flow's own process: PySCF builds the Hamiltonian, ffsim the LUCJ
ansatz from CCSD amplitudes, Qiskit transpiles it to ``ibm_fez``, and the library's robust tasks
submit each circuit exactly once (global-scope submit cache, one Batch for the run) and fetch
its counts (result cache). The classical half is a subflow on a ``DaskTaskRunner``: a few rounds
of configuration recovery, subsampling and the independent subspace diagonalizations, the
batches in parallel on Dask worker processes.

    python examples/sqd/run_example.py          # what `make example-sqd` runs: everything offline
    python examples/sqd/flow.py --runtime-block NAME   # real hardware; needs PREFECT_API_URL

The flow needs a real Prefect server (``PREFECT_API_URL``): Dask worker processes report their
task runs to it. ``run_example.py`` starts one, and the Qiskit Runtime emulator, for you.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np  # noqa: TC002  (Prefect reads task annotations at run time)
from chemistry import Problem, build_problem, isa_lucj_circuit
from prefect import flow, task, unmapped
from prefect.artifacts import acreate_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect_dask import DaskTaskRunner
from qiskit import QuantumCircuit  # noqa: TC002
from sqd_steps import (
    BatchResult,
    Occupancies,
    Samples,
    average_occupancies,
    best,
    diagonalize,
    merge_counts,
    recover,
    subsample_batches,
)

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_result_fetch_cache_key,
    qiskit_retry_delays,
    should_retry_qiskit_fetch_failure,
    submit_sampler_job_task,
)

#: The emulator's device; on real hardware the Block names the backend.
BACKEND = "ibm_fez"
#: The simulator seed the emulator honours: the same job always returns the same counts.
SAMPLER_OPTIONS: dict[str, Any] = {"simulator": {"seed_simulator": 2024}}
#: What one Dask worker gets: two single-threaded worker processes, as on 2 cores.
DASK_CLUSTER = {
    "n_workers": 2,
    "threads_per_worker": 1,
    "processes": True,
    "dashboard_address": ":0",
}


class SimulatedCrash(RuntimeError):
    """Raised by ``--crash-after-sampling``: the classical half fails after the jobs ran."""


@dataclass(frozen=True)
class Settings:
    """What one SQD run does (every value that changes the energy is here)."""

    runtime_config: QiskitRuntimeConfig | None = None
    runtime_block: str | None = None
    bond_length: float = 1.5
    shots: int = 100_000
    ansatz_reps: tuple[int, ...] = (1, 2)
    seed: int = 24
    iterations: int = 3
    batches: int = 4
    samples_per_batch: int = 30
    crash_after_sampling: bool = False
    output_dir: str = "."


@dataclass(frozen=True)
class Iteration:
    """One round of the classical half: the best batch, and every batch's energy."""

    iteration: int
    energy: float
    subspace_dimension: int
    spin_squared: float
    batch_energies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What the run found, with the classical references."""

    energy: float
    reference_energy: float
    hartree_fock_energy: float
    iterations: list[Iteration]
    job_ids: list[str]
    plot: str


# ----------------------------------------------------------------------------- quantum half


def _problem_key(_: Any, parameters: dict[str, Any]) -> str:
    return f"sqd-n2-problem-sto3g-{parameters['bond_length']}"


def _circuit_key(_: Any, parameters: dict[str, Any]) -> str:
    problem, config = parameters["problem"], parameters["runtime_config"]
    return (
        f"sqd-n2-isa-{config.backend_name}-{problem.bond_length}-"
        f"{parameters['n_reps']}-{parameters['seed_transpiler']}"
    )


@task(name="build Hamiltonian (PySCF)", cache_key_fn=_problem_key, persist_result=True)
def build_problem_task(bond_length: float) -> Problem:
    """PySCF: integrals, Hartree-Fock, CCSD amplitudes and the exact (CASCI) reference."""
    return build_problem(bond_length)


@task(name="LUCJ circuit (ffsim, ISA)", cache_key_fn=_circuit_key, persist_result=True)
def isa_circuit_task(
    problem: Problem, runtime_config: QiskitRuntimeConfig, n_reps: int, seed_transpiler: int
) -> QuantumCircuit:
    """The transpiled LUCJ circuit; cached, so a rerun submits the very same circuit."""
    return isa_lucj_circuit(
        problem, runtime_config.get_backend(), n_reps=n_reps, seed_transpiler=seed_transpiler
    )


async def sample(
    circuits: list[QuantumCircuit], config: QiskitRuntimeConfig, shots: int
) -> tuple[list[dict[str, int]], list[str]]:
    """Submit each circuit exactly once, then fetch all results in parallel.

    Returns:
        The counts of each circuit, and the job ids.
    """
    references = []
    for circuit in circuits:
        digest = build_qiskit_sampler_input_digest(
            [circuit], backend_name=config.backend_name, shots=shots,
            options=SAMPLER_OPTIONS, cache_scope="global",
        )  # fmt: skip
        references.append(
            await submit_sampler_job_task(
                [circuit],
                runtime_config=config,
                shots=shots,
                options=SAMPLER_OPTIONS,
                input_digest=digest,
            )
        )
    fetch = fetch_qiskit_job_result_task.with_options(
        cache_key_fn=qiskit_result_fetch_cache_key,
        cache_expiration=timedelta(days=30),
        persist_result=True,
        result_serializer="compressed/pickle",
        retries=len(qiskit_retry_delays()),
        retry_delay_seconds=qiskit_retry_delays(),
        retry_condition_fn=should_retry_qiskit_fetch_failure,
    )
    outputs = await asyncio.gather(
        *(
            fetch(runtime_config=config, job_reference=reference, pubs=[circuit])
            for reference, circuit in zip(references, circuits, strict=True)
        )
    )
    counts = [output["result"][0].data.meas.get_counts() for output in outputs]
    return counts, [reference.job_id for reference in references]


# ----------------------------------------------------------------------------- classical half


@task(name="configuration recovery", cache_policy=NO_CACHE)
def recover_task(
    samples: Samples, occupancies: Occupancies | None, nelec: tuple[int, int], seed: int
) -> Samples:
    """Correct the electron count of noisy bitstrings from the last round's occupancies."""
    return recover(samples, occupancies, nelec, seed)


@task(name="subsample", cache_policy=NO_CACHE)
def subsample_task(
    samples: Samples, nelec: tuple[int, int], settings: Settings, seed: int
) -> list[np.ndarray]:
    """Draw the round's independent batches of configurations."""
    return subsample_batches(
        samples, nelec, samples_per_batch=settings.samples_per_batch,
        batches=settings.batches, seed=seed,
    )  # fmt: skip


@task(name="diagonalize subspace", cache_policy=NO_CACHE)
def diagonalize_task(batch: np.ndarray, problem: Problem, crash: bool) -> BatchResult:
    """Project the Hamiltonian on one batch's determinants and solve (PySCF selected CI)."""
    if crash:
        raise SimulatedCrash(
            "--crash-after-sampling: the classical half failed on purpose after the jobs ran; "
            "rerun the flow without the flag: it reuses the jobs and their results"
        )
    return diagonalize(batch, problem.one_body, problem.two_body, problem.core_energy)


def _publish_iteration(record: Iteration, results: list[BatchResult], reference: float) -> None:
    table = [
        {
            "batch": index + 1,
            "energy (Ha)": round(result.energy, 8),
            "error vs exact (mHa)": round(1000 * (result.energy - reference), 3),
            "subspace dimension": result.subspace_dimension,
            "<S^2>": round(result.spin_squared, 6),
        }
        for index, result in enumerate(results)
    ]
    create_table_artifact(
        table,
        key=f"sqd-iteration-{record.iteration}",
        description=f"SQD round {record.iteration}: best {record.energy:.8f} Ha, exact "
        f"(CASCI) {reference:.8f} Ha, subspace dimension {record.subspace_dimension}.",
    )


@flow(
    name="sqd-classical-half",
    task_runner=DaskTaskRunner(cluster_kwargs=DASK_CLUSTER),
    validate_parameters=False,
)
def classical_half(
    problem: Problem, counts: list[dict[str, int]], settings: Settings
) -> list[Iteration]:
    """Rounds of recovery, subsampling and parallel diagonalization on Dask workers."""
    samples = merge_counts(counts)
    occupancies: Occupancies | None = None
    records: list[Iteration] = []
    for round_index in range(settings.iterations):
        seed = settings.seed + round_index
        recovered = recover_task.submit(samples, occupancies, problem.nelec, seed)
        batches = subsample_task.submit(recovered, problem.nelec, settings, seed).result()
        crash = settings.crash_after_sampling and round_index == 0
        futures = diagonalize_task.map(batches, unmapped(problem), unmapped(crash))
        results = [future.result() for future in futures]
        occupancies = average_occupancies(results)
        chosen = best(results)
        record = Iteration(
            iteration=round_index + 1, energy=chosen.energy,
            subspace_dimension=chosen.subspace_dimension, spin_squared=chosen.spin_squared,
            batch_energies=[result.energy for result in results],
        )  # fmt: skip
        _publish_iteration(record, results, problem.reference_energy)
        records.append(record)
    return records


# ----------------------------------------------------------------------------- reporting


def plot_energies(records: list[Iteration], problem: Problem, path: Path) -> Path:
    """Energy error per round, every batch and the best, against HF on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for record in records:
        errors = [1000 * (e - problem.reference_energy) for e in record.batch_energies]
        axis.scatter([record.iteration] * len(errors), errors, color="tab:gray", s=12)
    best_errors = [1000 * (r.energy - problem.reference_energy) for r in records]
    axis.plot([r.iteration for r in records], best_errors, "o-", label="SQD (best batch)")
    hf_error = 1000 * (problem.hartree_fock_energy - problem.reference_energy)
    axis.axhline(hf_error, color="tab:red", linestyle="--", label="Hartree-Fock")
    axis.axhline(1.6, color="tab:green", linestyle=":", label="chemical accuracy")
    axis.set_yscale("log")
    axis.set_xlabel("configuration-recovery round")
    axis.set_ylabel("energy - exact (mHa)")
    axis.set_title(f"SQD of N2 (STO-3G, 16 qubits), R = {problem.bond_length} Å")
    axis.set_xticks([r.iteration for r in records])
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


async def _publish_summary(outcome: Outcome, problem: Problem) -> None:
    rows = "\n".join(
        f"| {r.iteration} | {r.energy:.8f} | {1000 * (r.energy - problem.reference_energy):.3f} "
        f"| {r.subspace_dimension} |"
        for r in outcome.iterations
    )
    await acreate_markdown_artifact(
        f"# SQD of N2 at {problem.bond_length} Å\n\n"
        f"Hartree-Fock {problem.hartree_fock_energy:.8f} Ha, exact (CASCI) "
        f"{problem.reference_energy:.8f} Ha, SQD {outcome.energy:.8f} Ha "
        f"({1000 * (outcome.energy - problem.reference_energy):.3f} mHa above exact).\n\n"
        "| round | energy (Ha) | error (mHa) | subspace dimension |\n|---|---|---|---|\n"
        f"{rows}\n\nPlot: [{Path(outcome.plot).name}]({Path(outcome.plot).as_uri()})\n\n"
        f"Jobs: {', '.join(outcome.job_ids)} (usage: the `qiskit-usage-...` artifact).",
        key="sqd-summary",
        description="SQD energy per round against the exact and Hartree-Fock energies.",
    )


# ----------------------------------------------------------------------------- flow


@flow(name="sqd-n2", validate_parameters=False)
async def sqd_n2(settings: Settings) -> Outcome:
    """SQD of N2: sample LUCJ circuits exactly once, then diagonalize in the sampled subspace."""
    config = settings.runtime_config or await QiskitRuntimeConfig.aload(settings.runtime_block)
    problem = build_problem_task(settings.bond_length)
    circuits = [
        isa_circuit_task(problem, config, n_reps, settings.seed) for n_reps in settings.ansatz_reps
    ]
    counts, job_ids = await sample(circuits, config, settings.shots)
    records = classical_half(problem, counts, settings)
    plot = Path(settings.output_dir) / f"sqd-energy-{flow_run.get_id()}.png"
    outcome = Outcome(
        energy=min(record.energy for record in records),
        reference_energy=problem.reference_energy,
        hartree_fock_energy=problem.hartree_fock_energy,
        iterations=records,
        job_ids=job_ids,
        plot=str(plot_energies(records, problem, plot)),
    )
    await _publish_summary(outcome, problem)
    return outcome


# ----------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runtime-block",
        metavar="NAME",
        help="saved QiskitRuntimeConfig Block: REAL Qiskit Runtime jobs (default: the Qiskit "
        "Runtime account in the environment, which run_example.py points at the emulator)",
    )
    parser.add_argument("--bond-length", type=float, default=Settings.bond_length)
    parser.add_argument("--shots", type=int, default=Settings.shots)
    parser.add_argument("--iterations", type=int, default=Settings.iterations)
    parser.add_argument(
        "--crash-after-sampling",
        action="store_true",
        help="fail in the classical half after the jobs ran (a rerun then reuses them)",
    )
    parser.add_argument("--output-dir", default=".", help="where the PNG plot is written")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not os.environ.get("PREFECT_API_URL"):
        raise SystemExit(
            "PREFECT_API_URL is not set: the Dask workers of the classical half need a real "
            "Prefect server. Run examples/sqd/run_example.py (it starts one), or start one "
            "with `prefect server start` and export PREFECT_API_URL"
        )
    config = None if args.runtime_block else QiskitRuntimeConfig(
        backend_name=BACKEND, execution_mode="batch"
    )  # fmt: skip
    settings = Settings(
        runtime_config=config, runtime_block=args.runtime_block,
        bond_length=args.bond_length, shots=args.shots, iterations=args.iterations,
        crash_after_sampling=args.crash_after_sampling,
        output_dir=str(Path(args.output_dir).resolve()),
    )  # fmt: skip
    outcome = asyncio.run(sqd_n2(settings))
    summary = {
        "energy": outcome.energy,
        "reference_energy": outcome.reference_energy,
        "hartree_fock_energy": outcome.hartree_fock_energy,
        "iterations": len(outcome.iterations),
        "job_ids": outcome.job_ids,
        "plot": outcome.plot,
    }
    print("SQD " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
