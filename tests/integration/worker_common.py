"""What the subprocess workers of the integration tests share: their input and their output.

The workers run as scripts (``python robust_worker.py``), so this module is imported from the
script's own directory.
"""

from __future__ import annotations

import json

from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime.fake_provider import FakeFez


def isa_bell() -> QuantumCircuit:
    """A Bell pair transpiled for ibm_fez (a fixed seed: the same circuit in every process)."""
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    pm = generate_preset_pass_manager(backend=FakeFez(), optimization_level=1, seed_transpiler=7)
    return pm.run(circuit)


def say(**fields: object) -> None:
    """Print one JSON milestone line for the test to read."""
    print(json.dumps(fields), flush=True)
