"""The classical half of SQD as pure functions: recovery, subsampling, diagonalization.

Each function is a step the flow runs as a Prefect task. They take and return plain numpy
data, so they travel to Dask workers and back, and every random choice takes an explicit seed:
the same samples always give the same energy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from qiskit_addon_sqd.configuration_recovery import recover_configurations
from qiskit_addon_sqd.counts import counts_to_arrays
from qiskit_addon_sqd.fermion import solve_fermion
from qiskit_addon_sqd.subsampling import postselect_by_hamming_right_and_left, subsample

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

#: Spin-up and spin-down occupancy of each active orbital.
Occupancies = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Samples:
    """Measured configurations: one bitstring per row, with its empirical probability."""

    bitstrings: np.ndarray
    probabilities: np.ndarray


@dataclass(frozen=True)
class BatchResult:
    """The ground state of one subsampled subspace.

    Attributes:
        energy: Total energy (core energy included) in Hartree.
        subspace_dimension: Determinants in the subspace the Hamiltonian was projected on.
        occupancies: Spin-up and spin-down occupancy of each orbital in that state.
        spin_squared: The state's <S^2>.
    """

    energy: float
    subspace_dimension: int
    occupancies: Occupancies
    spin_squared: float


def merge_counts(counts: Iterable[Mapping[str, int]]) -> Samples:
    """Pool the counts of several jobs into one set of samples.

    Args:
        counts: Bitstring counts, one mapping per sampled circuit.

    Returns:
        The distinct bitstrings (sorted, so the order never depends on the jobs') and their
        probabilities.
    """
    total: Counter[str] = Counter()
    for one in counts:
        total.update(one)
    bitstrings, probabilities = counts_to_arrays(dict(sorted(total.items())))
    return Samples(np.asarray(bitstrings, dtype=bool), np.asarray(probabilities, dtype=float))


def recover(
    samples: Samples, occupancies: Occupancies | None, nelec: tuple[int, int], seed: int
) -> Samples:
    """Configuration recovery: correct bitstrings whose electron count is wrong.

    The first round has no occupancies yet and keeps the samples as measured.

    Args:
        samples: The measured samples.
        occupancies: Orbital occupancies from the previous round, or ``None`` in the first.
        nelec: The (alpha, beta) electron counts the bitstrings must have.
        seed: Seed of the random flips.

    Returns:
        The corrected samples.
    """
    if occupancies is None:
        return samples
    bitstrings, probabilities = recover_configurations(
        samples.bitstrings, samples.probabilities, occupancies, nelec[0], nelec[1], rand_seed=seed
    )
    return Samples(bitstrings, probabilities)


def subsample_batches(
    samples: Samples, nelec: tuple[int, int], *, samples_per_batch: int, batches: int, seed: int
) -> list[np.ndarray]:
    """Keep the bitstrings with the right electron counts and draw ``batches`` subsets.

    Args:
        samples: The (recovered) samples.
        nelec: (alpha, beta) electrons: alpha is the right half of each bitstring.
        samples_per_batch: Bitstrings drawn per batch, without replacement.
        batches: How many independent batches to draw.
        seed: Seed of the draw.

    Returns:
        One bitstring matrix per batch.
    """
    kept, probabilities = postselect_by_hamming_right_and_left(
        samples.bitstrings, samples.probabilities, hamming_right=nelec[0], hamming_left=nelec[1]
    )
    if len(kept) == 0:
        raise ValueError(
            "no sample has the right number of electrons: sample more shots, or start from "
            "occupancies (configuration recovery) before subsampling"
        )
    drawn = subsample(kept, probabilities, samples_per_batch, batches, rand_seed=seed)
    return [np.asarray(batch, dtype=bool) for batch in drawn]


def diagonalize(
    batch: np.ndarray, one_body: np.ndarray, two_body: np.ndarray, core_energy: float
) -> BatchResult:
    """Project the Hamiltonian on the batch's determinants and find its ground state.

    Alpha and beta strings are pooled (closed shell), and the state is kept a singlet.

    Args:
        batch: The batch's bitstrings.
        one_body: Active-space one-electron integrals.
        two_body: Active-space two-electron integrals (4-index).
        core_energy: Added to the electronic energy.

    Returns:
        The batch's energy, subspace dimension, occupancies and <S^2>.
    """
    energy, state, occupancies, spin_squared = solve_fermion(
        batch, one_body, two_body, open_shell=False, spin_sq=0.0
    )
    return BatchResult(
        energy=float(energy) + core_energy,
        subspace_dimension=int(state.amplitudes.size),
        occupancies=(np.asarray(occupancies[0]), np.asarray(occupancies[1])),
        spin_squared=float(spin_squared),
    )


def average_occupancies(results: Sequence[BatchResult]) -> Occupancies:
    """The mean occupancies over the batches: the next round's recovery input."""
    if not results:
        raise ValueError("no batch result to average: diagonalize at least one batch first")
    up = np.mean([result.occupancies[0] for result in results], axis=0)
    down = np.mean([result.occupancies[1] for result in results], axis=0)
    return up, down


def best(results: Sequence[BatchResult]) -> BatchResult:
    """The batch with the lowest energy (every batch energy is variational)."""
    if not results:
        raise ValueError("no batch result to choose from: diagonalize at least one batch first")
    return min(results, key=lambda result: result.energy)
