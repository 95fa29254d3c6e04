"""Check pubs, shots, precision and artifact keys before anything is submitted.

Every check raises `InvalidInputError` with ``argument`` set to the offending parameter and a
message that says what is wrong and how to fix it. The pub checks coerce with qiskit's own
``SamplerPub.coerce``/``EstimatorPub.coerce`` and return the coerced pubs, so what was
validated is exactly what gets submitted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Final

from qiskit.circuit import ControlFlowOp, QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from .errors import InvalidInputError

if TYPE_CHECKING:
    from qiskit.providers import BackendV2

    from .jobs import PrimitiveName

#: Artifact keys Prefect accepts: lowercase letters, digits and dashes.
ARTIFACT_KEY_PATTERN: Final = re.compile(r"[a-z0-9-]+")

#: Instructions that are never checked against the backend's target.
_DIRECTIVES: Final = frozenset({"barrier", "store"})

_TRANSPILE_HINT: Final = (
    "Transpile it for this backend first, for example "
    "`generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)` "
    "(from qiskit.transpiler import generate_preset_pass_manager)."
)


def validate_shots(shots: object) -> int | None:
    """Return ``shots`` as an ``int`` (or ``None``), rejecting anything but a positive integer.

    Raises:
        InvalidInputError: ``shots`` is a bool, not an integer, or not positive.
    """
    if shots is None:
        return None
    if isinstance(shots, bool) or not isinstance(shots, Integral):
        raise InvalidInputError(
            f"`shots` must be a positive integer or None, got {type(shots).__name__} {shots!r}.",
            argument="shots",
        )
    if shots <= 0:
        raise InvalidInputError(
            f"`shots` must be a positive integer, got {shots}.", argument="shots"
        )
    return int(shots)


def validate_precision(precision: object) -> float | None:
    """Return ``precision`` as a ``float`` (or ``None``), rejecting non-positive or non-finite.

    Raises:
        InvalidInputError: ``precision`` is a bool, not a real number, NaN, infinite, or not
            positive.
    """
    if precision is None:
        return None
    if isinstance(precision, bool) or not isinstance(precision, Real):
        raise InvalidInputError(
            "`precision` must be a positive real number or None, got "
            f"{type(precision).__name__} {precision!r}.",
            argument="precision",
        )
    value = float(precision)
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(
            f"`precision` must be a finite number greater than 0, got {precision!r}.",
            argument="precision",
        )
    return value


def validate_artifact_key(key: object) -> str:
    """Return ``key`` if Prefect accepts it as an artifact key.

    Args:
        key: The artifact key; the per-pub table uses ``f"{key}-pubs"``.

    Raises:
        InvalidInputError: The key is empty or has characters other than lowercase letters,
            digits and dashes.
    """
    if not isinstance(key, str) or ARTIFACT_KEY_PATTERN.fullmatch(key) is None:
        raise InvalidInputError(
            f"`artifact_key` must use only lowercase letters, digits and dashes, got {key!r} "
            "(for example 'native-qiskit-sampler').",
            argument="artifact_key",
        )
    return key


def validate_sampler_inputs(
    pubs: Iterable[object], *, backend: BackendV2, shots: object = None
) -> list[SamplerPub]:
    """Check sampler pubs and shots against ``backend``; return the coerced pubs.

    Args:
        pubs: Sampler pub-likes: circuits, ``(circuit, parameter_values[, shots])`` tuples or
            ``SamplerPub`` objects.
        backend: The backend the pubs will run on.
        shots: The default shots, or ``None`` for the primitive's default.

    Returns:
        The pubs coerced with ``SamplerPub.coerce`` (default shots folded in).

    Raises:
        InvalidInputError: Nothing to run, an object that is not a pub, bad shots, a circuit
            without measurements, wider than the backend or not in the backend's ISA.
    """
    default_shots = validate_shots(shots)
    coerced: list[SamplerPub] = []
    for index, pub in _enumerate_pubs(pubs, "sampler"):
        try:
            sampler_pub = SamplerPub.coerce(pub, default_shots)
        except (TypeError, ValueError, IndexError) as exc:
            raise InvalidInputError(
                f"pub {index} is not a valid sampler pub ({type(pub).__name__}): {exc}. A "
                "sampler pub is a circuit or a tuple (circuit, parameter_values[, shots]).",
                argument="pubs",
            ) from exc
        if sampler_pub.shots is not None and sampler_pub.shots <= 0:
            raise InvalidInputError(
                f"pub {index} asks for {sampler_pub.shots} shots; shots must be positive.",
                argument="pubs",
            )
        circuit = sampler_pub.circuit
        if not any(item.operation.name == "measure" for item in _walk(circuit)):
            raise InvalidInputError(
                f"pub {index}: the circuit has no measurements, so the sampler would return "
                "no data. Add measurements (for example `circuit.measure_all()`) before "
                "transpiling.",
                argument="pubs",
            )
        _check_isa(circuit, backend, index)
        coerced.append(sampler_pub)
    return coerced


def validate_estimator_inputs(
    pubs: Iterable[object], *, backend: BackendV2, precision: object = None
) -> list[EstimatorPub]:
    """Check estimator pubs and precision against ``backend``; return the coerced pubs.

    Args:
        pubs: Estimator pub-likes: ``(circuit, observables[, parameter_values[, precision]])``
            tuples or ``EstimatorPub`` objects.
        backend: The backend the pubs will run on.
        precision: The default target precision, or ``None`` for the primitive's default.

    Returns:
        The pubs coerced with ``EstimatorPub.coerce`` (default precision folded in).

    Raises:
        InvalidInputError: Nothing to run, an object that is not a pub, bad precision,
            observables that do not match the circuit, a circuit wider than the backend or
            not in the backend's ISA.
    """
    default_precision = validate_precision(precision)
    coerced: list[EstimatorPub] = []
    for index, pub in _enumerate_pubs(pubs, "estimator"):
        try:
            estimator_pub = EstimatorPub.coerce(pub, default_precision)
        except (TypeError, ValueError, IndexError) as exc:
            raise InvalidInputError(
                _estimator_pub_message(index, pub, exc), argument="pubs"
            ) from exc
        pub_precision = estimator_pub.precision
        if pub_precision is not None and not (math.isfinite(pub_precision) and pub_precision > 0):
            raise InvalidInputError(
                f"pub {index} asks for precision {pub_precision}; it must be a finite number "
                "greater than 0.",
                argument="pubs",
            )
        _check_isa(estimator_pub.circuit, backend, index)
        coerced.append(estimator_pub)
    return coerced


def validate_inputs(
    primitive: PrimitiveName,
    pubs: Iterable[object],
    *,
    backend: BackendV2,
    shots: object = None,
    precision: object = None,
) -> list[SamplerPub] | list[EstimatorPub]:
    """Check the pubs of ``primitive`` (with its ``shots`` or ``precision``) against ``backend``.

    The one entry point the tasks use; see `validate_sampler_inputs` and
    `validate_estimator_inputs` for what is checked.
    """
    if primitive == "sampler":
        return validate_sampler_inputs(pubs, backend=backend, shots=shots)
    return validate_estimator_inputs(pubs, backend=backend, precision=precision)


def _estimator_pub_message(index: int, pub: object, exc: Exception) -> str:
    text = str(exc)
    if "qubits" in text and "observable" in text.lower():
        return (
            f"pub {index}: the observables do not match the circuit: {text}. After "
            "transpiling, map each observable onto the physical qubits with "
            "`observable.apply_layout(isa_circuit.layout)`."
        )
    return (
        f"pub {index} is not a valid estimator pub ({type(pub).__name__}): {text}. An "
        "estimator pub is a tuple (circuit, observables[, parameter_values[, precision]])."
    )


def _enumerate_pubs(pubs: Iterable[object], primitive: str) -> Iterator[tuple[int, object]]:
    if isinstance(pubs, (QuantumCircuit, str, bytes, SamplerPub, EstimatorPub)) or not isinstance(
        pubs, Iterable
    ):
        raise InvalidInputError(
            f"`pubs` must be a list of {primitive} pubs, got {type(pubs).__name__}. To run one "
            "pub, wrap it in a list: `[pub]`.",
            argument="pubs",
        )
    items: Sequence[object] = pubs if isinstance(pubs, Sequence) else list(pubs)
    if not items:
        raise InvalidInputError(
            f"`pubs` is empty; give at least one {primitive} pub.", argument="pubs"
        )
    if primitive == "sampler":
        for index, pub in enumerate(items):
            if not isinstance(pub, (QuantumCircuit, SamplerPub, tuple, list)):
                raise InvalidInputError(
                    f"pub {index} is a {type(pub).__name__}, not a sampler pub (a circuit, a "
                    "tuple (circuit, parameter_values[, shots]) or a SamplerPub).",
                    argument="pubs",
                )
    else:
        for index, pub in enumerate(items):
            if not isinstance(pub, (EstimatorPub, tuple, list)):
                raise InvalidInputError(
                    f"pub {index} is a {type(pub).__name__}, not an estimator pub (a tuple "
                    "(circuit, observables[, parameter_values[, precision]]) or an "
                    "EstimatorPub).",
                    argument="pubs",
                )
    return iter(enumerate(items))


def _walk(circuit: QuantumCircuit) -> Iterator[Any]:
    """Yield every instruction of ``circuit``, descending into control-flow blocks."""
    for item in circuit.data:
        yield item
        if isinstance(item.operation, ControlFlowOp):
            for block in item.operation.blocks:
                yield from _walk(block)


def _check_isa(circuit: QuantumCircuit, backend: BackendV2, index: int) -> None:
    width = circuit.num_qubits
    if width > backend.num_qubits:
        raise InvalidInputError(
            f"pub {index}: the circuit has {width} qubits but backend '{backend.name}' has "
            f"only {backend.num_qubits}.",
            argument="pubs",
        )
    target = backend.target
    problem = _first_non_isa(circuit, target, tuple(range(width)))
    if problem is not None:
        raise InvalidInputError(
            f"pub {index}: the circuit is not an ISA circuit for backend '{backend.name}': "
            f"{problem}. The backend supports {', '.join(sorted(target.operation_names))}. "
            + _TRANSPILE_HINT,
            argument="pubs",
        )


def _first_non_isa(circuit: QuantumCircuit, target: Any, physical: tuple[int, ...]) -> str | None:
    """Describe the first instruction ``target`` does not support, or return ``None``.

    ``physical[i]`` is the backend qubit the circuit's ``i``-th qubit stands for (identity at
    the top level; the enclosing instruction's qubits inside control-flow blocks).
    """
    for item in circuit.data:
        operation = item.operation
        name = operation.name
        if name in _DIRECTIVES:
            continue
        qargs = tuple(physical[circuit.find_bit(qubit).index] for qubit in item.qubits)
        if isinstance(operation, ControlFlowOp):
            if name not in target.operation_names:
                return f"control-flow operation '{name}' is not supported"
            for block in operation.blocks:
                problem = _first_non_isa(block, target, qargs)
                if problem is not None:
                    return problem
            continue
        if not target.instruction_supported(operation_name=name, qargs=qargs):
            if name not in target.operation_names:
                return f"gate '{name}' is not in the backend's basis"
            return f"'{name}' is not supported on qubits {list(qargs)} (check the coupling map)"
    return None


__all__ = [
    "ARTIFACT_KEY_PATTERN",
    "validate_artifact_key",
    "validate_estimator_inputs",
    "validate_precision",
    "validate_sampler_inputs",
    "validate_shots",
]
