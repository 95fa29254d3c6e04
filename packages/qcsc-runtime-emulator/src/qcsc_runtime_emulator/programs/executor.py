"""The ``executor`` program: a quantum program as the client-side primitives send it.

qiskit-ibm-runtime's ``Executor`` (and the client-side ``executor_sampler.Sampler`` and
``executor_estimator.Estimator`` built on it) posts ``params`` in the ``ibm_quantum_schemas``
executor ``v2.0`` shape: one QPY blob with a circuit per item, and per item either
``circuit_arguments`` (a circuit item) or a samplomatic samplex with its arguments (a
samplex item), plus ``shots``, ``meas_level``, ``passthrough_data`` and a
``semantic_role``. This module checks those params when the job is created, runs the
items on the device's Aer simulator and answers a ``QuantumProgramResultModel`` that
the client's executor decoder (and, through ``semantic_role`` and ``passthrough_data``,
its sampler and estimator post-processors) turns into its own result types.

Importing this module registers the program in the emulator's program table. Like
``execution``, it imports qiskit, samplomatic and the schemas at module level, so it
must be imported by the thread that starts the server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from ibm_quantum_schemas.common import CompressedTensorModel  # type: ignore[import-untyped, unused-ignore]
from ibm_quantum_schemas.executor.version_2_0 import (  # type: ignore[import-untyped, unused-ignore]
    ChunkPart,
    ChunkSpan,
    ItemMetadataModel,
    MetadataModel,
    ParamsModel,
    QuantumProgramResultItemModel,
    QuantumProgramResultModel,
)
from pydantic import ValidationError
from qiskit.circuit import QuantumCircuit
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit_aer.primitives import SamplerV2 as AerSamplerV2
from qiskit_ibm_runtime.fake_provider.executor.broadcast_sample import broadcast_sample
from qiskit_ibm_runtime.quantum_program.converters.converters_2_0 import (
    quantum_program_from_2_0,
)
from samplomatic.quantum_program import (  # type: ignore[import-untyped, unused-ignore]
    CircuitItem,
    SamplexItem,
)

from ..errors import ApiError
from ..execution import (
    PROGRAMS,
    JobFailure,
    active_qubits,
    simulation_method,
    validate_circuit,
)

if TYPE_CHECKING:
    from ..execution import BackendCatalog
    from ..state import JobRecord

PROGRAM_ID = "executor"
"""Program id the client posts for executor jobs."""

SCHEMA_VERSION = "v2.0"
"""The params schema version this emulator reads (the one qiskit-ibm-runtime 0.51 sends)."""

_PARAMETER_VALUES = "parameter_values"
_IQ_SPREAD = 0.1
_MAX_REPORTED_ERRORS = 3


@dataclass(frozen=True)
class ExecutorParams:
    """Executor params, validated against the schema and decoded.

    Attributes:
        model: The validated ``ParamsModel`` (its passthrough data and semantic role are
            answered back unchanged).
        program: The decoded quantum program: circuits, circuit arguments, samplexes.
    """

    model: Any
    program: Any


def _validation_message(exc: ValidationError) -> str:
    """Summarise a pydantic error as ``field.path: message`` pairs."""
    parts = []
    for error in exc.errors()[:_MAX_REPORTED_ERRORS]:
        where = ".".join(str(part) for part in error["loc"]) or "params"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def parse_executor_params(params: object) -> ExecutorParams:
    """Validate and decode the ``params`` of an executor job like the service does.

    Args:
        params: The ``params`` object of ``POST /jobs``.

    Returns:
        The validated model and the decoded program.

    Raises:
        ApiError: 400 when the params are not an executor ``v2.0`` object, fail schema
            validation, or hold circuits, arguments or samplexes that cannot be decoded
            or do not fit together.
    """
    if not isinstance(params, dict):
        raise ApiError(400, "params must be an object")
    version = params.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ApiError(
            400,
            f"Unsupported executor schema_version {version!r}; this service accepts "
            f"{SCHEMA_VERSION!r}.",
        )
    try:
        model = ParamsModel.model_validate(params)
    except ValidationError as exc:
        raise ApiError(400, f"Invalid executor params: {_validation_message(exc)}") from None
    try:
        program, _options = quantum_program_from_2_0(model)
        for item in program.items:
            if isinstance(item, SamplexItem):
                item.samplex.finalize()  # orders the samplex's nodes; raises if it cannot
    except Exception as exc:
        raise ApiError(400, f"Invalid quantum program: {exc}") from None
    if not program.items:
        raise ApiError(400, "Invalid quantum program: it has no items.")
    return ExecutorParams(model=model, program=program)


def check_executor_params(params: object) -> dict[str, Any]:
    """Reject executor params the service would refuse at submission.

    Args:
        params: The ``params`` object of ``POST /jobs``.

    Returns:
        The params, unchanged, once they passed.

    Raises:
        ApiError: 400 with the reason (see :func:`parse_executor_params`).
    """
    parse_executor_params(params)
    return cast("dict[str, Any]", params)


def _configure_noise(
    catalog: BackendCatalog, backend: str, noise: str, active: frozenset[int]
) -> Any:
    """Return the device simulator with the noise model a program on ``active`` qubits gets."""
    simulator = catalog.simulator(backend)
    simulator.set_options(
        noise_model=catalog.noise_model(backend, noise, active), seed_simulator=None
    )
    return simulator


def _bindings(circuit: QuantumCircuit, values: np.ndarray) -> BindingsArray:
    """Bind ``values`` (last axis over ``circuit.parameters``) to the circuit's parameters."""
    if circuit.num_parameters == 0:
        return BindingsArray(shape=values.shape[:-1])
    return BindingsArray({tuple(circuit.parameters): values})


def _item_inputs(item: Any, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return the parameter values of an item and the outputs it answers besides bits.

    A circuit item binds its ``circuit_arguments``. A samplex item draws one set of
    parameter values per element of its shape from the samplex (e.g. twirling
    randomizations); the samplex's other outputs, such as ``measurement_flips.<creg>``,
    are answered with the measurements so that the client can undo the twirl.
    """
    if isinstance(item, CircuitItem):
        return np.asarray(item.circuit_arguments, dtype=float), {}
    if isinstance(item, SamplexItem):
        outputs = broadcast_sample(item.samplex, item.samplex_arguments, tuple(item.shape), rng)
        values = outputs.pop(_PARAMETER_VALUES, None)
        if values is None:
            values = np.zeros((*item.shape, 0))
        return np.asarray(values, dtype=float), outputs
    raise JobFailure(f"Unsupported quantum program item {type(item).__name__}.", 1502)


def _measurement_data(
    bits: np.ndarray, name: str, meas_level: str, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Render one register's bits (``(*shape, shots, nbits)``) at the requested level.

    ``kerneled`` data are IQ points near -1 (bit 0) and +1 (bit 1) in arbitrary units,
    under the name ``<creg>_iq``; ``avg_kerneled`` averages them over shots, under
    ``<creg>_avg_iq``; ``both`` answers the bits and the kerneled points.
    """
    if meas_level == "classified":
        return {name: bits}
    points = (2.0 * bits - 1.0) + _IQ_SPREAD * (
        rng.standard_normal(bits.shape) + 1j * rng.standard_normal(bits.shape)
    )
    if meas_level == "kerneled":
        return {f"{name}_iq": points}
    if meas_level == "avg_kerneled":
        return {f"{name}_avg_iq": points.mean(axis=-2)}
    return {name: bits, f"{name}_iq": points}


def _run_item(
    item: Any,
    shots: int,
    meas_level: str,
    simulator: Any,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Execute one item; return its results keyed as the client's decoders read them."""
    values, outputs = _item_inputs(item, rng)
    # Aer drops idle qubits; items wider than a statevector fits use a bounded method.
    simulator.set_options(method=simulation_method(len(active_qubits(item.circuit))))
    pub = SamplerPub(
        circuit=item.circuit, parameter_values=_bindings(item.circuit, values), shots=shots
    )
    # Aer's own sampler binds the parameter rows inside the simulator.
    data = AerSamplerV2.from_backend(simulator).run([pub]).result()[0].data
    results: dict[str, np.ndarray] = dict(outputs)
    for name in data:
        bits = np.asarray(data[name].to_bool_array(order="little"), dtype=bool)
        results.update(_measurement_data(bits, name, meas_level, rng))
    return results


def _chunk(index: int, shape: tuple[int, ...], start: datetime, stop: datetime) -> Any:
    """One chunk covering a whole item, in its natural order."""
    size = math.prod(shape)
    part = ChunkPart(
        idx_item=index,
        size=size,
        permutation=list(range(len(shape))),
        element_range=(0, size, 1),
    )
    return ChunkSpan(start=start, stop=stop, parts=[part])


def run_executor(job: JobRecord, catalog: BackendCatalog, noise: str) -> str:
    """Run an ``executor`` job on the device's simulator.

    Every item is checked against the device (width, ISA) first; then each runs for
    ``shots`` shots per element of its shape, and the answer is a
    ``QuantumProgramResultModel`` (``v2.0``) JSON text carrying the posted
    passthrough data and semantic role unchanged.

    Args:
        job: The job.
        catalog: Published backends.
        noise: ``none``, ``reduced`` or ``device``.

    Returns:
        The encoded quantum program result.

    Raises:
        JobFailure: For params that no longer decode (1502), circuits wider than the
            device (1519) or not ISA for it (1517).
    """
    try:
        parsed = parse_executor_params(job.params)
    except ApiError as exc:
        raise JobFailure(exc.message, 1502) from exc
    program = parsed.program
    target = catalog.fake(job.backend).target
    width = catalog.num_qubits(job.backend)
    used: set[int] = set()
    for index, item in enumerate(program.items):
        validate_circuit(item.circuit, target, width, index)
        used |= active_qubits(item.circuit)
    simulator = _configure_noise(catalog, job.backend, noise, frozenset(used))
    rng = np.random.default_rng()
    items = []
    spans = []
    for index, item in enumerate(program.items):
        start = datetime.now(UTC)
        results = _run_item(item, int(program.shots), str(program.meas_level), simulator, rng)
        spans.append(_chunk(index, tuple(item.shape), start, datetime.now(UTC)))
        items.append(
            QuantumProgramResultItemModel(
                results={
                    name: CompressedTensorModel.from_numpy(value) for name, value in results.items()
                },
                metadata=ItemMetadataModel(),
            )
        )
    result = QuantumProgramResultModel(
        data=items,
        metadata=MetadataModel(chunk_timing=spans),
        passthrough_data=parsed.model.quantum_program.passthrough_data,
        semantic_role=parsed.model.quantum_program.semantic_role,
    )
    text: str = result.model_dump_json()
    return text


PROGRAMS[PROGRAM_ID] = run_executor
