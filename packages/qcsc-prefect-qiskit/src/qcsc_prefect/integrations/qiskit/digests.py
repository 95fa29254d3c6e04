"""Stable identities ("input digests") of Qiskit primitive inputs and execution settings.

An input digest answers one question: *would submitting this be the same Qiskit Runtime job as
before?* It is the only thing the submit cache keys (``cache.py``) look at, so it must change
whenever anything that affects the job changes, and must not change otherwise:

* **circuits**, by structure: every instruction's name, qubit and clbit indices and parameters
  (floats exactly, symbolic expressions by parameter name), registers, global phase and the order
  of the circuit's parameters (which fixes the columns of the parameter values); definitions of
  non-standard gates and control-flow blocks are included recursively. The circuit's ``name``,
  ``metadata`` and layout are *not* part of the identity.
* **parameter values**, exactly (float64 bytes, shape and dtype);
* **observables** (Estimator), exactly: Pauli labels and coefficients, with the array shape;
* **shots / precision**, the run-level value and each pub's own value (``None`` differs from
  every number);
* **options**, canonically (a dict or a qiskit-ibm-runtime options dataclass becomes a nested
  dict and then sorted JSON; unset options are dropped);
* **backend**, **channel**, **instance**, the **primitive**, the **cache scope** and
  :data:`DIGEST_SCHEMA`.

Digests are streamed into :func:`hashlib.sha256`; no QPY (random parameter UUIDs), no
``qasm3.dumps`` (slow), no pickle, no ``repr`` of objects with addresses. Inputs are never
mutated. The result is the same in every process and for every ``PYTHONHASHSEED``.

Example:
    ```python
    from qcsc_prefect.integrations.qiskit.digests import build_qiskit_sampler_input_digest

    digest = build_qiskit_sampler_input_digest(
        [isa_circuit], backend_name="ibm_fez", shots=100, cache_scope="global"
    )
    ```
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, TypeGuard

import numpy as np
from prefect.context import FlowRunContext
from pydantic import BaseModel
from qiskit.circuit import ClassicalRegister, Clbit, ParameterExpression, QuantumCircuit

from ._programs import is_quantum_program
from .errors import InvalidInputError
from .validation import (
    CACHE_SCOPE,
    NAME,
    OPTIONAL_NAME,
    PRECISION,
    REPEAT,
    SHOTS,
    coerce_pubs,
    validated,
)

if TYPE_CHECKING:
    from qiskit.primitives.containers.estimator_pub import EstimatorPub
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    from .jobs import PrimitiveName

#: Version of the digest layout. Bump it on any deliberate change of what is hashed or how: every
#: digest (and so every submit cache key) changes with it.
DIGEST_SCHEMA: Final = "qcsc-qiskit-input-digest-v1"

#: Who may share a submit cache entry: ``"flow"`` (runs of the same flow, the default) or
#: ``"global"`` (any flow with the same inputs and settings).
CacheScope: TypeAlias = Literal["flow", "global"]

_NONE: Final = "~"  # how an absent (None) value is written; a present value always starts "="


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


#: The checks both builders share; each adds its run-level value (``shots`` or ``precision``).
_SHARED_CHECKS: Final = {
    "backend_name": NAME,
    "cache_scope": CACHE_SCOPE,
    "channel": OPTIONAL_NAME,
    "instance": OPTIONAL_NAME,
    "flow_name": OPTIONAL_NAME,
    "repeat": REPEAT,
}


@validated(shots=SHOTS, **_SHARED_CHECKS)
def build_qiskit_sampler_input_digest(
    pubs: Iterable[Any],
    *,
    backend_name: str,
    shots: int | None = None,
    cache_scope: CacheScope = "flow",
    options: object | None = None,
    channel: str | None = None,
    instance: str | None = None,
    flow_name: str | None = None,
    repeat: int | str | None = None,
) -> str:
    """Return the stable identity of a Sampler submission, for the submit cache.

    Args:
        pubs: The Sampler pubs exactly as they would be passed to ``SamplerV2.run`` (circuits,
            ``(circuit, parameter_values)`` or ``(circuit, parameter_values, shots)`` tuples, or
            ``SamplerPub`` objects). They are coerced with ``SamplerPub.coerce`` but not changed.
        backend_name: The backend the job would run on, for example ``"ibm_fez"``.
        shots: The run-level ``shots`` (``None``: the pubs' or the service's default).
        cache_scope: ``"flow"`` to key by the current flow's name as well, or ``"global"``.
        options: Sampler options: a ``dict`` or a qiskit-ibm-runtime ``SamplerOptions``.
        channel: The Qiskit Runtime channel, if the caller wants it in the identity.
        instance: The instance (CRN or name). It is hashed, never stored in clear.
        flow_name: The flow name for ``cache_scope="flow"``. Defaults to the running flow's name.
        repeat: Which deliberate repeat of these inputs this is (see `repeated_digest`):
            ``None`` (the default) keeps the digest of the inputs alone.

    Returns:
        A 64-character lowercase hexadecimal SHA-256 digest.

    Raises:
        InvalidInputError: The pubs, shots, options, backend name or cache scope are invalid, or
            ``cache_scope="flow"`` was used outside a flow without ``flow_name``.
    """
    scope = _scope_token(cache_scope, flow_name)
    header = _Header("sampler", backend_name, scope, options, channel, instance)
    shots_text = None if shots is None else str(shots)
    digest = _submission_digest(header, pubs, ("shots", shots_text), _feed_sampler_pub)
    return repeated_digest(digest, repeat)


@validated(precision=PRECISION, **_SHARED_CHECKS)
def build_qiskit_estimator_input_digest(
    pubs: Iterable[Any],
    *,
    backend_name: str,
    precision: float | None = None,
    cache_scope: CacheScope = "flow",
    options: object | None = None,
    channel: str | None = None,
    instance: str | None = None,
    flow_name: str | None = None,
    repeat: int | str | None = None,
) -> str:
    """Return the stable identity of an Estimator submission, for the submit cache.

    The Estimator counterpart of `build_qiskit_sampler_input_digest`: the same settings make
    up the identity, with ``precision`` in place of ``shots`` and each pub's observables.

    Args:
        pubs: The Estimator pubs exactly as they would be passed to ``EstimatorV2.run``
            (``(circuit, observables[, parameter_values[, precision]])`` tuples or
            ``EstimatorPub`` objects). They are coerced with ``EstimatorPub.coerce`` but not
            changed.
        backend_name: The name of the backend the Estimator job would run on.
        precision: The run-level target ``precision`` (``None``: the pubs' or the default).
        cache_scope: ``"global"``, or ``"flow"`` (the default) to include the flow's name.
        options: Estimator options: a ``dict`` or a qiskit-ibm-runtime ``EstimatorOptions``.
        channel: The channel to include in the identity (``None``: left out).
        instance: The instance (CRN or name); only its hash enters the digest.
        flow_name: The flow name for ``cache_scope="flow"`` (default: the running flow's).
        repeat: The deliberate repeat of these inputs (`repeated_digest`); ``None`` is none.

    Returns:
        The SHA-256 digest as 64 lowercase hexadecimal characters.

    Raises:
        InvalidInputError: The pubs, precision, options, backend name or cache scope are
            invalid, or ``cache_scope="flow"`` was used outside a flow without ``flow_name``.
    """
    scope = _scope_token(cache_scope, flow_name)
    header = _Header("estimator", backend_name, scope, options, channel, instance)
    precision_text = None if precision is None else _float_text(float(precision))
    digest = _submission_digest(header, pubs, ("precision", precision_text), _feed_estimator_pub)
    return repeated_digest(digest, repeat)


def is_input_digest(value: object) -> TypeGuard[str]:
    """Return whether ``value`` looks like a digest built by this module (64 lowercase hex)."""
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


# --------------------------------------------------------------------------------------------
# Streaming hasher
# --------------------------------------------------------------------------------------------


class _Feed:
    """Length-prefixed, tagged fields streamed into one SHA-256: no field bleeds into another."""

    __slots__ = ("_hash",)

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.text("schema", DIGEST_SCHEMA)

    def raw(self, data: bytes) -> None:
        self._hash.update(len(data).to_bytes(8, "little"))
        self._hash.update(data)

    def text(self, tag: str, value: str | None) -> None:
        self.raw(f"{tag}{_NONE if value is None else '=' + value}".encode())

    def array(self, tag: str, array: np.ndarray[Any, Any]) -> None:
        contiguous = np.ascontiguousarray(array)
        # dtype, shape and byte count frame the buffer, which is streamed without a copy.
        self.text(tag, f"{contiguous.dtype.str}{contiguous.shape}{contiguous.nbytes}")
        self._hash.update(contiguous.data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def repeated_digest(digest: str, repeat: int | str | None) -> str:
    """Return the digest of deliberate repeat ``repeat`` of the inputs ``digest`` stands for.

    Identical inputs are one submission, so submitting them again returns the same job. To
    collect a fresh job for the same inputs on purpose, give each repeat a value: different
    values are different submissions (each still exactly once), the same value is the same
    submission. The value is compared as text (``1`` and ``"1"`` are the same repeat).

    Args:
        digest: A 64-hex input digest.
        repeat: The repeat's value; ``None`` returns ``digest`` unchanged.

    Returns:
        A 64-character lowercase hexadecimal SHA-256 digest.
    """
    if repeat is None:
        return digest
    return hashlib.sha256(f"{digest}\0repeat\0{repeat}".encode()).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class _Header:
    """What every digest starts with: the primitive and the settings around the pubs."""

    primitive: PrimitiveName
    backend_name: str
    scope: str
    options: object | None
    channel: str | None
    instance: str | None

    def feed(self, feed: _Feed) -> None:
        feed.text("primitive", self.primitive)
        feed.text("backend", self.backend_name)
        feed.text("channel", self.channel)
        feed.text("instance", self.instance)
        feed.text("scope", self.scope)
        feed.text("options", _canonical_options(self.options))


def _submission_digest(
    header: _Header,
    pubs: Iterable[Any],
    run_value: tuple[str, str | None],
    feed_pub: Callable[[_Feed, Any], None],
) -> str:
    """The digest of one submission, before `repeated_digest`.

    Args:
        header: The primitive and settings.
        pubs: The pubs as given (or a raw ``QuantumProgram``).
        run_value: The tag and text of the run-level ``shots`` or ``precision``.
        feed_pub: Streams what one coerced pub adds after its circuit.
    """
    if is_quantum_program(pubs):
        return _program_digest(header, pubs)
    coerced = coerce_pubs(header.primitive, pubs)
    feed = _Feed()
    header.feed(feed)
    feed.text(*run_value)
    feed.text("pubs", str(len(coerced)))
    circuits: dict[int, bytes] = {}
    for pub in coerced:
        feed.raw(b"pub")
        feed.raw(_circuit_digest(pub.circuit, circuits))
        feed_pub(feed, pub)
    return feed.hexdigest()


def _feed_sampler_pub(feed: _Feed, pub: SamplerPub) -> None:
    feed.text("pub-shots", None if pub.shots is None else str(pub.shots))
    _feed_parameter_values(feed, pub.circuit, pub.parameter_values)


def _feed_estimator_pub(feed: _Feed, pub: EstimatorPub) -> None:
    precision = None if pub.precision is None else _float_text(float(pub.precision))
    feed.text("pub-precision", precision)
    _feed_observables(feed, pub.observables)
    _feed_parameter_values(feed, pub.circuit, pub.parameter_values)


def _program_digest(header: _Header, program: Any) -> str:
    """The digest of a raw ``QuantumProgram``: its executor wire encoding stands for the pubs."""
    feed = _Feed()
    header.feed(feed)
    from ._runtime.native import canonical_program  # deferred: keeps digests client-free

    feed.text("program", canonical_program(program))
    return feed.hexdigest()


# --------------------------------------------------------------------------------------------
# Cache scope
# --------------------------------------------------------------------------------------------


def _scope_token(cache_scope: CacheScope, flow_name: str | None) -> str:
    if cache_scope == "global":
        return "global"
    if flow_name is None:
        context = FlowRunContext.get()
        if context is not None and context.flow is not None:
            flow_name = context.flow.name
    if flow_name is None:
        raise InvalidInputError(
            'cache_scope="flow" needs the flow\'s name, but no flow is running. Call this '
            'inside a @flow, pass flow_name=..., or use cache_scope="global".',
            argument="cache_scope",
        )
    return "flow:" + flow_name


# --------------------------------------------------------------------------------------------
# Circuits
# --------------------------------------------------------------------------------------------


def _circuit_digest(circuit: QuantumCircuit, memo: dict[int, bytes]) -> bytes:
    """Digest of one circuit's structure; a circuit object shared by several pubs is walked once."""
    key = id(circuit)
    found = memo.get(key)
    if found is None:
        parts: list[str] = []
        _circuit_text(circuit, parts)
        found = hashlib.sha256("".join(parts).encode()).digest()
        memo[key] = found
    return found


def _token(value: str) -> str:
    return f"{len(value)}:{value}"


def _circuit_text(circuit: QuantumCircuit, parts: list[str]) -> None:
    append = parts.append
    append(f"C{circuit.num_qubits},{circuit.num_clbits}|")
    for qreg in circuit.qregs:
        append(f"Q{_token(qreg.name)}{qreg.size}|")
    for creg in circuit.cregs:
        append(f"K{_token(creg.name)}{creg.size}|")
    append("G" + _value_text(circuit.global_phase, circuit) + "|")
    append("P" + ",".join(_token(parameter.name) for parameter in circuit.parameters) + "|")

    qubit_index = {qubit: str(index) for index, qubit in enumerate(circuit.qubits)}
    clbit_index = {clbit: str(index) for index, clbit in enumerate(circuit.clbits)}
    # Hot loop (one pass per instruction): texts of names and qubit tuples are memoized.
    names: dict[str, str] = {}
    qubit_texts: dict[tuple[Any, ...], str] = {}
    for instruction in circuit.data:
        name = instruction.name
        name_text = names.get(name)
        if name_text is None:
            name_text = names[name] = _token(name)
        qubits = instruction.qubits
        qubit_text = qubit_texts.get(qubits)
        if qubit_text is None:
            qubit_text = qubit_texts[qubits] = "q" + ",".join([qubit_index[q] for q in qubits])
        append(name_text)
        append(qubit_text)
        if instruction.clbits:
            append("c" + ",".join([clbit_index[clbit] for clbit in instruction.clbits]))
        params = instruction.params
        if params:
            append(
                "p"
                + ",".join(
                    [
                        "f" + _float_text(param)
                        if type(param) is float
                        else _value_text(param, circuit)
                        for param in params
                    ]
                )
            )
        if not instruction.is_standard_gate():
            _extra_operation_text(instruction, circuit, parts)
        append(";")


def _extra_operation_text(instruction: Any, circuit: QuantumCircuit, parts: list[str]) -> None:
    """Identity of operations that a name and params do not fix (custom gates, control flow)."""
    operation = instruction.operation
    if instruction.is_control_flow():
        condition = getattr(operation, "condition", None)
        if condition is not None:
            parts.append("if" + _value_text(condition, circuit))
        target = getattr(operation, "target", None)
        if target is not None:
            parts.append("switch" + _value_text(target, circuit))
            for values, block in operation.cases_specifier():
                parts.append("case" + _value_text(tuple(values), circuit))
                parts.append("{")
                _circuit_text(block, parts)
                parts.append("}")
        return  # the blocks themselves are params, already walked
    if instruction.name == "delay":
        parts.append("u" + _token(str(operation.unit)))
        return
    if instruction.is_directive() or instruction.name in ("measure", "reset"):
        return
    definition = operation.definition
    if definition is not None:
        parts.append("d{")
        _circuit_text(definition, parts)
        parts.append("}")


def _float_text(value: float) -> str:
    # repr of a float round-trips exactly: distinct doubles give distinct text.
    return float.__repr__(value)


def _value_text(value: object, circuit: QuantumCircuit) -> str:
    """Exact, process-independent text of an instruction parameter (or condition)."""
    if isinstance(value, float):
        return "f" + _float_text(value)
    if isinstance(value, bool):
        return "b" + str(value)
    if isinstance(value, int):
        return "i" + str(value)
    if isinstance(value, ParameterExpression):
        numeric = value.numeric() if not value.parameters else None
        if numeric is not None:
            return _value_text(numeric, circuit)
        return "e" + _token(str(value))
    if isinstance(value, complex):
        return f"z{_float_text(value.real)},{_float_text(value.imag)}"
    if isinstance(value, np.generic):
        return _value_text(value.item(), circuit)
    if isinstance(value, str):
        return "s" + _token(value)
    if isinstance(value, np.ndarray):
        contiguous = np.ascontiguousarray(value)
        return f"a{contiguous.dtype.str}{contiguous.shape}{contiguous.tobytes().hex()}"
    if isinstance(value, QuantumCircuit):
        parts = ["{"]
        _circuit_text(value, parts)
        parts.append("}")
        return "".join(parts)
    if isinstance(value, Clbit):
        return f"k{circuit.find_bit(value).index}"
    if isinstance(value, ClassicalRegister):
        return "r" + _token(value.name)
    if isinstance(value, tuple | list):
        return "(" + ",".join(_value_text(item, circuit) for item in value) + ")"
    if isinstance(value, range):
        return f"R{value.start},{value.stop},{value.step}"
    if value is None:
        return "n"
    # Rare operation payloads (classical expressions, annotations): their own text form.
    return "o" + _token(f"{type(value).__qualname__}:{value}")


# --------------------------------------------------------------------------------------------
# Parameter values and observables
# --------------------------------------------------------------------------------------------


def _feed_parameter_values(feed: _Feed, circuit: QuantumCircuit, bindings: Any) -> None:
    feed.text("values-shape", str(tuple(bindings.shape)))
    if circuit.num_parameters == 0:
        return
    try:
        data = bindings.data
        names = tuple(parameter.name for parameter in circuit.parameters)
        if len(data) == 1 and next(iter(data)) == names:
            # Already one array in circuit-parameter order (the usual case): no copy.
            values = np.asarray(next(iter(data.values())), dtype=np.float64)
        else:
            values = np.asarray(bindings.as_array(circuit.parameters), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"parameter values must be real numbers for every circuit parameter: {exc}",
            argument="pubs",
        ) from exc
    feed.array("values", values)


def _feed_observables(feed: _Feed, observables: Any) -> None:
    feed.text("observables-shape", str(tuple(observables.shape)))
    parts: list[str] = []
    for observable in observables.ravel().tolist():
        parts.append("{")
        for label in sorted(observable):
            coefficient = observable[label]
            parts.append(_token(label))
            parts.append(_value_text(coefficient, _EMPTY_CIRCUIT))
            parts.append(";")
        parts.append("}")
    feed.raw("".join(parts).encode())


_EMPTY_CIRCUIT: Final = QuantumCircuit()


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------


def _is_unset(value: object) -> bool:
    # qiskit-ibm-runtime marks options the user did not set with its `Unset` sentinel.
    return type(value).__name__ == "UnsetType"


def _plain(value: object) -> object:
    """Nested dict/list/scalar form of an options value, with unset options dropped."""
    if isinstance(value, BaseModel):
        # The executor primitives' options are pydantic models (which also pass as dataclasses,
        # for compatibility, with a deprecation warning): values left at their defaults are
        # dropped, like unset options of the V2 dataclasses.
        value = value.model_dump(mode="json", exclude_defaults=True)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        plain: dict[str, object] = {}
        for key, item in value.items():
            if _is_unset(item):
                continue
            plain[str(key)] = _plain(item)
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(item) for item in value), key=repr)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    return value


def _json_default(value: object) -> object:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _plain(to_dict())
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _canonical_options(options: object | None) -> str | None:
    if options is None:
        return None
    if not (
        isinstance(options, Mapping | BaseModel)
        or (dataclasses.is_dataclass(options) and not isinstance(options, type))
    ):
        raise InvalidInputError(
            "options must be a dict or a qiskit-ibm-runtime options object, got "
            f"{type(options).__name__}.",
            argument="options",
        )
    try:
        return json.dumps(
            _plain(options), sort_keys=True, separators=(",", ":"), default=_json_default
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"options could not be put in canonical form: {exc}", argument="options"
        ) from exc


__all__ = [
    "DIGEST_SCHEMA",
    "CacheScope",
    "build_qiskit_estimator_input_digest",
    "build_qiskit_sampler_input_digest",
    "is_input_digest",
    "repeated_digest",
]
