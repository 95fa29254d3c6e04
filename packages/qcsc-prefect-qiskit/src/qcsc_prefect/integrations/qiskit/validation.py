"""One validation path for the library's arguments: pydantic-constrained types, one error.

Scalar arguments (shots, precision, seconds, flags, cache scope, artifact keys, expirations) are
described once, as pydantic-constrained types wrapped in a `Constraint` that also says in words
what a valid value is. `validated` declares the constraints of a function's arguments and checks
them on every call; `Constraint.check` checks one value in a function body. Both translate
pydantic's ``ValidationError`` in one place (`Constraint.check`) into `InvalidInputError`, with
``argument`` set to the offending parameter and a message that says what is wrong and what to
pass instead.

Each argument gets its own pydantic ``TypeAdapter`` rather than ``validate_call`` on the whole
function: pubs and options must reach qiskit unchanged (``validate_call`` would rebuild them),
and many signatures name types imported for type checking only.

Pubs are checked with qiskit's own ``SamplerPub.coerce``/``EstimatorPub.coerce`` (`coerce_pubs`,
shared with the input digests) and then against the backend (`validate_inputs`), which returns
the coerced pubs: the pubs to post, in either mode, so what was validated is exactly what gets
submitted.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from numbers import Integral
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, ParamSpec, TypeVar

from annotated_types import Ge, Gt, Le
from pydantic import (
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from qiskit.circuit import ControlFlowOp, QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from ._programs import is_quantum_program, program_circuits
from .errors import InvalidInputError

if TYPE_CHECKING:
    from qiskit.providers import BackendV2

    from .jobs import PrimitiveName

P = ParamSpec("P")
R = TypeVar("R")

#: Artifact keys Prefect accepts: lowercase letters, digits and dashes.
ARTIFACT_KEY_PATTERN: Final = re.compile(r"[a-z0-9-]+")

#: Instructions that are never checked against the backend's target.
_DIRECTIVES: Final = frozenset({"barrier", "store"})

_TRANSPILE_HINT: Final = (
    "Transpile it for this backend first, for example "
    "`generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)` "
    "(from qiskit.transpiler import generate_preset_pass_manager)."
)


# --------------------------------------------------------------------------------------------
# Constrained arguments
# --------------------------------------------------------------------------------------------


def _integral_as_int(value: object) -> object:
    """Let numpy integers through a strict ``int`` (bools stay rejected)."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    return value


_KEY_STRING: Final = StringConstraints(strict=True, pattern=f"^{ARTIFACT_KEY_PATTERN.pattern}$")
_PositiveInt = Annotated[int, BeforeValidator(_integral_as_int), Strict(), Gt(0)]
_PositiveFinite = Annotated[float, Strict(), Gt(0), Field(allow_inf_nan=False)]
_Finite = Annotated[float, Strict(), Field(allow_inf_nan=False)]
_Name = Annotated[str, StringConstraints(strict=True, pattern=r"\S")]


@dataclass(frozen=True)
class Constraint:
    """A pydantic-constrained type and the words that say what a valid value is.

    Attributes:
        annotation: The constrained type (``Annotated[...]``, ``Literal[...]``, a union).
        requirement: Completes "`<argument>` must be ...", for example ``"a positive integer"``.
    """

    annotation: Any
    requirement: str
    _adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_adapter", TypeAdapter(self.annotation))

    def check(self, value: Any, argument: str) -> Any:
        """Return ``value`` validated (numpy numbers become ``int``/``float``).

        Raises:
            InvalidInputError: ``value`` does not satisfy the constraint; ``argument`` names it.
        """
        try:
            return self._adapter.validate_python(value)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise InvalidInputError(
                f"`{argument}` must be {self.requirement}; got {_preview(value)} ({reason}).",
                argument=argument,
            ) from None


#: Default shots: a positive integer, or ``None`` for the primitive's default.
SHOTS: Final = Constraint(
    _PositiveInt | None, "a positive integer, or None for the primitive's default"
)
#: Default target precision: a finite number above 0, or ``None`` for the primitive's default.
PRECISION: Final = Constraint(
    _PositiveFinite | None, "a finite number greater than 0, or None for the primitive's default"
)
#: A duration in seconds that must be given.
SECONDS: Final = Constraint(_PositiveFinite, "a positive, finite number of seconds")
#: A time limit in seconds, or ``None`` for no limit.
OPTIONAL_SECONDS: Final = Constraint(
    _PositiveFinite | None, "a positive, finite number of seconds, or None for no limit"
)
#: A flag: ``True`` or ``False`` only (no truthy strings or numbers).
FLAG: Final = Constraint(StrictBool, "True or False")
#: Who may share a submit cache entry.
CACHE_SCOPE: Final = Constraint(Literal["flow", "global"], "'flow' or 'global'")
#: An artifact key Prefect accepts, or ``None`` for no artifacts.
ARTIFACT_KEY: Final = Constraint(
    Annotated[str, _KEY_STRING] | None,
    "made of lowercase letters, digits and dashes only (for example 'native-qiskit-sampler'), "
    "or None",
)
_REQUIRED_ARTIFACT_KEY: Final = Constraint(
    Annotated[str, _KEY_STRING],
    "made of lowercase letters, digits and dashes only (for example 'native-qiskit-sampler')",
)
#: How long a cache entry stays valid, or ``None`` for ever.
CACHE_EXPIRATION: Final = Constraint(
    Annotated[timedelta, Strict(), Gt(timedelta(0))] | None,
    "a positive datetime.timedelta, or None to keep entries for ever",
)
#: An input digest built by ``build_qiskit_*_input_digest``, or ``None``.
INPUT_DIGEST: Final = Constraint(
    Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")] | None,
    "the 64-character hex digest returned by build_qiskit_sampler_input_digest or "
    "build_qiskit_estimator_input_digest, or None",
)
#: Which deliberate repeat of identical inputs a submission is (see `digests.repeated_digest`).
REPEAT: Final = Constraint(
    Annotated[int, Strict(), Ge(0)]
    | Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200, pattern=r"\S")]
    | None,
    "a non-negative integer, a non-empty string of at most 200 characters, or None",
)
#: A non-blank name (backend, flow).
NAME: Final = Constraint(_Name, "a non-empty string")
#: A non-blank name, or ``None``.
OPTIONAL_NAME: Final = Constraint(_Name | None, "a non-empty string or None")
#: A number of retries.
RETRY_COUNT: Final = Constraint(
    Annotated[int, BeforeValidator(_integral_as_int), Strict(), Ge(0), Le(100)],
    "an integer from 0 to 100",
)
#: A positive, finite number (no unit).
POSITIVE: Final = Constraint(_PositiveFinite, "a finite number greater than 0")
#: Any finite number.
FINITE: Final = Constraint(_Finite, "a finite number")
#: A fraction from 0 to 1.
FRACTION: Final = Constraint(
    Annotated[float, Strict(), Ge(0), Le(1), Field(allow_inf_nan=False)], "a number from 0 to 1"
)
#: An optional random seed.
OPTIONAL_SEED: Final = Constraint(
    Annotated[int, BeforeValidator(_integral_as_int), Strict()] | None, "an integer or None"
)


def validated(
    **constraints: Constraint,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Check the named arguments of every call against their `Constraint`, in signature order.

    The checked values replace the given ones (numpy integers become ``int``, for example);
    arguments without a constraint pass through untouched. Works for plain and ``async``
    functions (an ``async`` function stays one, as Prefect requires of async tasks).

    Example:
        ```python
        @validated(shots=SHOTS, artifact_key=ARTIFACT_KEY)
        def run(pubs, *, shots=None, artifact_key=None): ...
        ```

    Raises:
        InvalidInputError: From the decorated function, for the first argument that fails.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{fn.__qualname__} has no parameter(s) {sorted(unknown)}")
        order = [name for name in signature.parameters if name in constraints]

        def checked(args: Any, kwargs: Any) -> inspect.BoundArguments:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name in order:
                bound.arguments[name] = constraints[name].check(bound.arguments[name], name)
            return bound

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def acall(*args: Any, **kwargs: Any) -> Any:
                bound = checked(args, kwargs)
                return await fn(*bound.args, **bound.kwargs)

            return acall  # type: ignore[return-value]

        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = checked(args, kwargs)
            return fn(*bound.args, **bound.kwargs)

        return call

    return decorate


def check_wait_arguments(
    timeout: object, poll_interval: object, max_poll_interval: object, request_timeout: object
) -> None:
    """Check the waiting arguments of a fetch: ``timeout`` may be ``None``, the rest are seconds.

    Raises:
        InvalidInputError: The first argument that is not a positive, finite number of seconds.
    """
    OPTIONAL_SECONDS.check(timeout, "timeout")
    SECONDS.check(poll_interval, "poll_interval")
    SECONDS.check(max_poll_interval, "max_poll_interval")
    SECONDS.check(request_timeout, "request_timeout")


def validate_shots(shots: object) -> int | None:
    """Return ``shots`` as an ``int`` (or ``None``), rejecting anything but a positive integer.

    Raises:
        InvalidInputError: ``shots`` is a bool, not an integer, or not positive.
    """
    value: int | None = SHOTS.check(shots, "shots")
    return value


def validate_precision(precision: object) -> float | None:
    """Return ``precision`` as a ``float`` (or ``None``), rejecting non-positive or non-finite.

    Raises:
        InvalidInputError: ``precision`` is a bool, not a real number, NaN, infinite, or not
            positive.
    """
    value: float | None = PRECISION.check(precision, "precision")
    return value


def validate_artifact_key(key: object) -> str:
    """Return ``key`` if Prefect accepts it as an artifact key.

    Args:
        key: The artifact key; the per-pub table uses ``f"{key}-pubs"``.

    Raises:
        InvalidInputError: The key is not a string, is empty or has characters other than
            lowercase letters, digits and dashes.
    """
    value: str = _REQUIRED_ARTIFACT_KEY.check(key, "artifact_key")
    return value


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------------------------
# Pubs
# --------------------------------------------------------------------------------------------


def coerce_pubs(
    primitive: PrimitiveName, pubs: Iterable[object], default: float | None = None
) -> list[SamplerPub] | list[EstimatorPub]:
    """Coerce pub-likes with qiskit's ``SamplerPub.coerce``/``EstimatorPub.coerce``.

    The one coercion of pubs, used by `validate_inputs` (the pubs to post) and by the input
    digests (``default=None`` there: run-level and per-pub values are hashed apart). The
    inputs are never changed.

    Args:
        primitive: ``"sampler"`` or ``"estimator"``.
        pubs: A list (or any iterable but a single pub) of pub-likes.
        default: Default shots (sampler) or precision (estimator) to fold into the pubs.

    Returns:
        One ``SamplerPub`` or ``EstimatorPub`` per pub, in order.

    Raises:
        InvalidInputError: Nothing to run, a single pub not wrapped in a list, an object that
            is not a pub, or a pub with non-positive shots or a precision that is not a finite
            number above 0.
    """
    coerced: list[Any] = []
    for index, pub in _enumerate_pubs(pubs, primitive):
        try:
            if primitive == "sampler":
                coerced.append(SamplerPub.coerce(pub, _as_shots(default)))
            else:
                coerced.append(EstimatorPub.coerce(pub, default))
        except Exception as exc:
            raise InvalidInputError(
                _pub_message(primitive, index, pub, exc), argument="pubs"
            ) from exc
        _check_pub_value(primitive, index, coerced[-1])
    return coerced


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
    coerced: list[SamplerPub] = coerce_pubs("sampler", pubs, validate_shots(shots))
    for index, pub in enumerate(coerced):
        if not any(item.operation.name == "measure" for item in _walk(pub.circuit)):
            raise InvalidInputError(
                f"pub {index}: the circuit has no measurements, so the sampler would return "
                "no data. Add measurements (for example `circuit.measure_all()`) before "
                "transpiling.",
                argument="pubs",
            )
        _check_isa(pub.circuit, backend, index)
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
    coerced: list[EstimatorPub] = coerce_pubs("estimator", pubs, validate_precision(precision))
    for index, pub in enumerate(coerced):
        _check_isa(pub.circuit, backend, index)
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

    The one check both modes run before posting; its result is what they post. See
    `validate_sampler_inputs` and `validate_estimator_inputs` for what is checked.

    A ``QuantumProgram`` (executor input) is checked item by item and returned unchanged.

    Returns:
        The coerced pubs (``SamplerPub``/``EstimatorPub``, run-level default folded in): the
        pubs to post.
    """
    if is_quantum_program(pubs):
        for index, circuit in enumerate(program_circuits(pubs)):
            _check_isa(circuit, backend, index)
        return pubs  # type: ignore[return-value]  # posted as is, through the Executor
    if primitive == "sampler":
        return validate_sampler_inputs(pubs, backend=backend, shots=shots)
    return validate_estimator_inputs(pubs, backend=backend, precision=precision)


def _as_shots(default: float | None) -> int | None:
    return None if default is None else int(default)


def _check_pub_value(primitive: PrimitiveName, index: int, pub: Any) -> None:
    if primitive == "sampler":
        if pub.shots is not None and pub.shots <= 0:
            raise InvalidInputError(
                f"pub {index} asks for {pub.shots} shots; shots must be positive.",
                argument="pubs",
            )
        return
    precision = pub.precision
    if precision is not None and not (math.isfinite(precision) and precision > 0):
        raise InvalidInputError(
            f"pub {index} asks for precision {precision}; it must be a finite number greater "
            "than 0.",
            argument="pubs",
        )


def _pub_message(primitive: PrimitiveName, index: int, pub: object, exc: Exception) -> str:
    text = str(exc)
    if primitive == "sampler":
        return (
            f"pub {index} is not a valid sampler pub ({type(pub).__name__}): {text}. A "
            "sampler pub is a circuit or a tuple (circuit, parameter_values[, shots])."
        )
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


#: What a single pub of each primitive may be, for the early type check.
_PUB_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "sampler": (QuantumCircuit, SamplerPub, tuple, list),
    "estimator": (EstimatorPub, tuple, list),
}
_PUB_SHAPES: Final = {
    "sampler": "a circuit, a tuple (circuit, parameter_values[, shots]) or a SamplerPub",
    "estimator": "a tuple (circuit, observables[, parameter_values[, precision]]) or an "
    "EstimatorPub",
}
_NOT_A_LIST: Final = (QuantumCircuit, str, bytes, Mapping, SamplerPub, EstimatorPub)


def _enumerate_pubs(pubs: Iterable[object], primitive: str) -> Iterator[tuple[int, object]]:
    if isinstance(pubs, _NOT_A_LIST) or not isinstance(pubs, Iterable):
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
    for index, pub in enumerate(items):
        if not isinstance(pub, _PUB_TYPES[primitive]):
            raise InvalidInputError(
                f"pub {index} is a {type(pub).__name__}, not a {primitive} pub "
                f"({_PUB_SHAPES[primitive]}).",
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
    "ARTIFACT_KEY",
    "ARTIFACT_KEY_PATTERN",
    "CACHE_EXPIRATION",
    "CACHE_SCOPE",
    "FINITE",
    "FLAG",
    "FRACTION",
    "INPUT_DIGEST",
    "NAME",
    "OPTIONAL_NAME",
    "OPTIONAL_SECONDS",
    "OPTIONAL_SEED",
    "POSITIVE",
    "PRECISION",
    "RETRY_COUNT",
    "SECONDS",
    "SHOTS",
    "Constraint",
    "check_wait_arguments",
    "coerce_pubs",
    "validate_artifact_key",
    "validate_estimator_inputs",
    "validate_inputs",
    "validate_precision",
    "validate_sampler_inputs",
    "validate_shots",
    "validated",
]
