"""The quantum half's inputs: N2 in a minimal basis, its LUCJ ansatz and the ISA circuits.

Everything here is plain PySCF, ffsim and Qiskit: the circuits are built natively and handed to
the library's tasks unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import ffsim
import ffsim.qiskit
import numpy as np
import pyscf.ao2mo
import pyscf.cc
import pyscf.gto
import pyscf.mcscf
import pyscf.scf
from qiskit import QuantumCircuit, QuantumRegister

if TYPE_CHECKING:
    from qiskit.providers import BackendV2

#: Decimals kept of the CCSD amplitudes. Threaded BLAS makes the last bits of CCSD differ from
#: process to process, and the transpiler turns a 1e-16 change of an angle into another circuit:
#: another input digest, another (paid) job. Rounding makes the circuit a function of the molecule.
AMPLITUDE_DECIMALS = 10
#: Spatial orbitals kept frozen (the two 1s cores of N2); the other 8 form the active space.
FROZEN_CORE = 2


@dataclass(frozen=True)
class Problem:
    """The electronic-structure problem of the active space, and its classical references.

    Attributes:
        bond_length: The N-N distance in Angstrom.
        norb: Spatial orbitals in the active space (the circuits use ``2 * norb`` qubits).
        nelec: Active (alpha, beta) electrons.
        one_body: One-electron integrals of the active space.
        two_body: Two-electron integrals of the active space, full 4-index form.
        core_energy: Nuclear repulsion plus the frozen core's energy.
        hartree_fock_energy: Restricted Hartree-Fock total energy.
        reference_energy: CASCI total energy: exact (FCI) within the active space.
        t1: CCSD singles amplitudes of the active space.
        t2: CCSD doubles amplitudes of the active space.
    """

    bond_length: float
    norb: int
    nelec: tuple[int, int]
    one_body: np.ndarray
    two_body: np.ndarray
    core_energy: float
    hartree_fock_energy: float
    reference_energy: float
    t1: np.ndarray
    t2: np.ndarray


def build_problem(bond_length: float) -> Problem:
    """N2 in STO-3G with frozen 1s cores: 8 orbitals, (5, 5) electrons, 16 qubits.

    Args:
        bond_length: The N-N distance in Angstrom.

    Returns:
        The active-space integrals, the Hartree-Fock and exact (CASCI) energies and the CCSD
        amplitudes the LUCJ ansatz starts from.
    """
    molecule = pyscf.gto.Mole()
    molecule.build(
        atom=[["N", (0.0, 0.0, 0.0)], ["N", (bond_length, 0.0, 0.0)]],
        basis="sto-3g",
        symmetry="Dooh",
        verbose=0,
    )
    hartree_fock = pyscf.scf.RHF(molecule).run()
    active = range(FROZEN_CORE, molecule.nao_nr())
    data = ffsim.MolecularData.from_scf(hartree_fock, active_space=active)
    casci = pyscf.mcscf.CASCI(hartree_fock, ncas=data.norb, nelecas=data.nelec)
    casci.verbose = 0
    reference = float(casci.kernel()[0])
    ccsd = pyscf.cc.CCSD(hartree_fock, frozen=list(range(FROZEN_CORE)))
    ccsd.verbose = 0
    ccsd.run()
    return Problem(
        bond_length=bond_length,
        norb=data.norb,
        nelec=(int(data.nelec[0]), int(data.nelec[1])),
        one_body=np.asarray(data.one_body_integrals),
        two_body=pyscf.ao2mo.restore(1, data.two_body_integrals, data.norb),
        core_energy=float(data.core_energy),
        hartree_fock_energy=float(hartree_fock.e_tot),
        reference_energy=reference,
        t1=np.round(ccsd.t1, AMPLITUDE_DECIMALS),
        t2=np.round(ccsd.t2, AMPLITUDE_DECIMALS),
    )


def isa_lucj_circuit(
    problem: Problem, backend: BackendV2, *, n_reps: int, seed_transpiler: int
) -> QuantumCircuit:
    """The measured LUCJ circuit from the CCSD amplitudes, transpiled to ``backend`` (ISA).

    ffsim's LUCJ pass manager picks a heavy-hex layout that fits the alpha-alpha chain and as
    many alpha-beta pairs as the device allows; the ansatz then uses exactly those pairs.

    Args:
        problem: The active-space problem.
        backend: The target device, for example the emulator's ``ibm_fez``.
        n_reps: Layers of the LUCJ ansatz.
        seed_transpiler: Fixes the transpiler's choices, so a rerun builds the same circuit.

    Returns:
        The ISA circuit, measuring all ``2 * norb`` qubits.
    """
    pairs_aa = [(p, p + 1) for p in range(problem.norb - 1)]
    pass_manager, pairs_ab = ffsim.qiskit.generate_lucj_pass_manager(
        backend,
        problem.norb,
        "heavy-hex",
        (pairs_aa, None),
        optimization_level=3,
        seed_transpiler=seed_transpiler,
    )
    ansatz = ffsim.UCJOpSpinBalanced.from_t_amplitudes(
        problem.t2, t1=problem.t1, n_reps=n_reps, interaction_pairs=(pairs_aa, pairs_ab)
    )
    qubits = QuantumRegister(2 * problem.norb, name="q")
    circuit = QuantumCircuit(qubits, name=f"lucj-{n_reps}")
    circuit.append(ffsim.qiskit.PrepareHartreeFockJW(problem.norb, problem.nelec), qubits)
    circuit.append(ffsim.qiskit.UCJOpSpinBalancedJW(ansatz), qubits)
    circuit.measure_all()
    isa: QuantumCircuit = pass_manager.run(circuit)
    return isa
