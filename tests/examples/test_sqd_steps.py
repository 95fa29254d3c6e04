"""The SQD example's classical steps (examples/sqd/sqd_steps.py) on tiny exact cases.

Skipped where the example's packages are not installed; `make example-sqd` installs them and
runs this file before the example itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qiskit_addon_sqd")
pyscf = pytest.importorskip("pyscf")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "sqd"))

import sqd_steps  # noqa: E402
from pyscf import ao2mo, fci, gto, scf  # noqa: E402


@pytest.fixture(scope="module")
def h2() -> dict[str, object]:
    """H2 in STO-3G: 2 orbitals, (1, 1) electrons; its HF and FCI energies."""
    molecule = gto.M(atom="H 0 0 0; H 0 0 0.74", basis="sto-3g", verbose=0)
    hf = scf.RHF(molecule).run()
    one_body = hf.mo_coeff.T @ hf.get_hcore() @ hf.mo_coeff
    two_body = ao2mo.restore(1, ao2mo.kernel(molecule, hf.mo_coeff), 2)
    exact = fci.FCI(hf).kernel()[0]
    return {"one_body": one_body, "two_body": two_body, "core": molecule.energy_nuc(),
            "hf": hf.e_tot, "fci": exact}  # fmt: skip


def test_merge_counts_pools_jobs_in_a_fixed_order() -> None:
    first = sqd_steps.merge_counts([{"0101": 3, "1010": 1}, {"0101": 1, "0110": 5}])
    second = sqd_steps.merge_counts([{"0110": 5, "0101": 1}, {"1010": 1, "0101": 3}])
    assert np.array_equal(first.bitstrings, second.bitstrings)
    rows = ["".join("1" if bit else "0" for bit in row) for row in first.bitstrings]
    assert dict(zip(rows, first.probabilities, strict=True)) == pytest.approx(
        {"0101": 0.4, "0110": 0.5, "1010": 0.1}
    )


def test_recovery_keeps_samples_in_the_first_round_and_fixes_electron_counts_later() -> None:
    samples = sqd_steps.merge_counts([{"0101": 6, "0111": 4}])  # "0111": 3 electrons
    assert sqd_steps.recover(samples, None, (1, 1), seed=1) is samples
    occupancies = (np.array([0.9, 0.1]), np.array([0.9, 0.1]))
    recovered = sqd_steps.recover(samples, occupancies, (1, 1), seed=1)
    assert all(row[:2].sum() == 1 and row[2:].sum() == 1 for row in recovered.bitstrings)


def test_subsampling_keeps_right_electron_counts_and_repeats_with_its_seed() -> None:
    samples = sqd_steps.merge_counts([{"0101": 5, "0110": 3, "1001": 2, "0111": 9}])
    batches = sqd_steps.subsample_batches(samples, (1, 1), samples_per_batch=2, batches=3, seed=7)
    again = sqd_steps.subsample_batches(samples, (1, 1), samples_per_batch=2, batches=3, seed=7)
    assert len(batches) == 3
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    assert all(row[:2].sum() == 1 and row[2:].sum() == 1 for batch in batches for row in batch)


def test_subsampling_without_a_valid_sample_says_what_to_do() -> None:
    samples = sqd_steps.merge_counts([{"0111": 9}])
    with pytest.raises(ValueError, match="configuration recovery"):
        sqd_steps.subsample_batches(samples, (1, 1), samples_per_batch=2, batches=1, seed=7)


def test_diagonalization_gives_hf_on_the_hf_determinant_and_fci_on_the_full_space(
    h2: dict[str, object],
) -> None:
    args = (h2["one_body"], h2["two_body"], h2["core"])
    hf_only = sqd_steps.diagonalize(np.array([[False, True, False, True]]), *args)
    full = sqd_steps.diagonalize(
        np.array([[False, True, False, True], [True, False, True, False]]), *args
    )
    assert hf_only.subspace_dimension == 1
    assert hf_only.energy == pytest.approx(h2["hf"], abs=1e-8)
    assert full.subspace_dimension == 4
    assert full.energy == pytest.approx(h2["fci"], abs=1e-8)
    assert full.energy < hf_only.energy
    assert sqd_steps.best([hf_only, full]) is full
    up, down = sqd_steps.average_occupancies([hf_only, full])
    assert up.sum() == pytest.approx(1.0) and down.sum() == pytest.approx(1.0)
