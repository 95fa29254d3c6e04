"""Raw ``QuantumProgram`` inputs: the executor's own input, accepted where pubs are.

With ``primitive_api="executor"``, the sampler and estimator tasks and wrappers also take a
``QuantumProgram`` (qiskit-ibm-runtime's, or samplomatic's, which is converted) instead of a list
of pubs. It is posted unchanged through the native ``Executor``; the result is the client's
``QuantumProgramResult``. A program carries its own shots, so ``shots``/``precision`` must be left
unset. Its identity for digests and job tags is the client's own wire encoding of the program
(schema v2.0, `_runtime.native.canonical_program`), so that two programs that would post the same
parameters are the same job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from samplomatic.quantum_program import QuantumProgram as SamplomaticQuantumProgram

from .errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from qiskit import QuantumCircuit


def is_quantum_program(value: object) -> bool:
    """Whether ``value`` is a ``QuantumProgram`` (the client's or samplomatic's)."""
    return isinstance(value, SamplomaticQuantumProgram)


def program_circuits(program: Any) -> Iterator[QuantumCircuit]:
    """The circuits of the program's items, in order."""
    for item in program.items:
        yield item.circuit


def input_count(pubs: Any) -> int:
    """How many pubs, or program items, a submission holds."""
    return len(pubs.items) if is_quantum_program(pubs) else len(pubs)


def check_program_call(program: Any, api: str, shots: object, precision: object) -> None:
    """Refuse a program where it cannot run: not on the executor, or with run-level values.

    Raises:
        InvalidInputError: ``api`` is not ``"executor"``, the program has no items, or
            ``shots``/``precision`` were given.
    """
    if api != "executor":
        raise InvalidInputError(
            "a QuantumProgram runs on the Executor: set `primitive_api='executor'` on the "
            "QiskitRuntimeConfig. Nothing was submitted.",
            argument="pubs",
        )
    if not list(program.items):
        raise InvalidInputError("the QuantumProgram has no items; nothing to run.", argument="pubs")
    for name, value in (("shots", shots), ("precision", precision)):
        if value is not None:
            raise InvalidInputError(
                f"a QuantumProgram carries its own shots (`QuantumProgram(shots=...)`); leave "
                f"`{name}` unset. Nothing was submitted.",
                argument=name,
            )


__all__ = [
    "check_program_call",
    "input_count",
    "is_quantum_program",
    "program_circuits",
]
