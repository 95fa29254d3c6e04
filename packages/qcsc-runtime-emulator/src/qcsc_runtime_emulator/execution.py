"""Backends and job execution on Aer.

qiskit, qiskit-aer and qiskit-ibm-runtime are imported at module level on purpose:
the module must be imported by the thread that starts the server, never first
inside a request or worker thread (qiskit 2.6 can crash the process otherwise).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import qiskit_ibm_runtime.fake_provider as fake_provider
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2
from qiskit.primitives.containers import DataBin, PrimitiveResult, PubResult, SamplerPubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel
from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans

from .codec import decode_params, encode_result
from .lifecycle import JobState
from .usage_model import estimator_shots, is_mock, mock_name

if TYPE_CHECKING:
    from .state import JobRecord, StateStore

logger = logging.getLogger(__name__)

NOISE_MODES = ("none", "reduced", "device")

#: Real device name -> fake-provider class name.
DEFAULT_BACKENDS: dict[str, str] = {
    "ibm_fez": "FakeFez",
    "ibm_torino": "FakeTorino",
    "ibmq_manila": "FakeManilaV2",
}

_IGNORED_OPS = frozenset({"barrier", "delay"})
_SIM_WIDTH_LIMIT = 24


class JobFailure(Exception):
    """A job-level failure with the service's reason code."""

    def __init__(self, message: str, reason_code: int) -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass
class _Device:
    name: str
    fake_cls: str
    directory: Path
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def short(self) -> str:
        return self.directory.name


class BackendCatalog:
    """Fake-provider devices published under their real names.

    Configuration and properties are the fake provider's ``conf_*.json`` and
    ``props_*.json`` (with ``backend_name`` set to the real name and
    ``simulator: false``); backend objects, simulators and noise models are built
    lazily and cached.

    Args:
        backends: Real name -> fake-provider class name.
    """

    def __init__(self, backends: dict[str, str] | None = None) -> None:
        self._lock = threading.RLock()
        self._devices: dict[str, _Device] = {}
        for name, cls_name in (backends or DEFAULT_BACKENDS).items():
            cls = getattr(fake_provider, cls_name)
            directory = Path(cls.dirname)
            self._devices[name] = _Device(name, cls_name, directory)
            if not is_mock(name):  # the device's dry-run counterpart (`usage_model`)
                self._devices.setdefault(
                    mock_name(name), _Device(mock_name(name), cls_name, directory)
                )
        self._fakes: dict[str, Any] = {}
        self._sims: dict[str, Any] = {}
        self._noise: dict[str, Any] = {}
        self._reduced: dict[tuple[str, frozenset[int]], Any] = {}

    def names(self, *, include_mocks: bool = False) -> list[str]:
        """Published backend names; with ``include_mocks`` also their ``mock_`` counterparts."""
        return [name for name in self._devices if include_mocks or not is_mock(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._devices

    def _device(self, name: str) -> _Device:
        return self._devices[name]

    def configuration(self, name: str) -> dict[str, Any]:
        """Return the device configuration as ``GET /backends/{name}/configuration`` serves it."""
        return self._document(name, "conf", {"simulator": False, "local": False})

    def properties(self, name: str) -> dict[str, Any]:
        """Return the device properties (``props_*.json``)."""
        return self._document(name, "props", {})

    def _document(self, name: str, kind: str, overrides: dict[str, Any]) -> dict[str, Any]:
        """Load (once) the fake's ``<kind>_<device>.json`` under the real name."""
        dev = self._device(name)
        with self._lock:
            if kind not in dev.documents:
                path = dev.directory / f"{kind}_{dev.short}.json"
                document = json.loads(path.read_text("utf-8"))
                document.update(backend_name=name, **overrides)
                dev.documents[kind] = document
            return dev.documents[kind]

    def calibration_id(self, name: str) -> str:
        """The id of the device's one calibration (its properties' update date)."""
        stamp = str(self.properties(name).get("last_update_date", ""))
        return f"{name}-{''.join(c for c in stamp if c.isdigit())[:14]}"

    def num_qubits(self, name: str) -> int:
        """Number of qubits of a device."""
        return int(self.configuration(name)["n_qubits"])

    def fake(self, name: str) -> Any:
        """Return (and cache) the fake-provider backend object."""
        with self._lock:
            if name not in self._fakes:
                self._fakes[name] = getattr(fake_provider, self._device(name).fake_cls)()
            return self._fakes[name]

    def simulator(self, name: str) -> Any:
        """Return the per-device Aer simulator (noise set per job by the executor)."""
        with self._lock:
            if name not in self._sims:
                self._sims[name] = AerSimulator.from_backend(self.fake(name), noise_model=None)
            return self._sims[name]

    def device_noise(self, name: str) -> Any:
        """Return the device's full noise model (built once; seconds for Heron devices)."""
        with self._lock:
            if name not in self._noise:
                self._noise[name] = NoiseModel.from_backend(self.fake(name))
            return self._noise[name]

    def noise_model(self, name: str, noise: str, qubits: frozenset[int]) -> Any:
        """The noise model of a job on ``qubits`` in ``noise`` mode (``None``: noiseless)."""
        if noise == "reduced":
            return self.reduced_noise(name, qubits)
        if noise == "device":
            return self.device_noise(name)
        return None

    def reduced_noise(self, name: str, qubits: frozenset[int]) -> Any:
        """Return the device noise restricted to ``qubits`` (cached per qubit set)."""
        key = (name, qubits)
        with self._lock:
            if key in self._reduced:
                return self._reduced[key]
            full = self.device_noise(name)
            reduced = NoiseModel(basis_gates=list(full.basis_gates))
            for gate, by_qubits in full._local_quantum_errors.items():
                for gate_qubits, error in by_qubits.items():
                    if set(gate_qubits) <= qubits:
                        reduced.add_quantum_error(error, gate, gate_qubits)
            for gate_qubits, error in full._local_readout_errors.items():
                if set(gate_qubits) <= qubits:
                    reduced.add_readout_error(error, gate_qubits)
            for gate, error in full._default_quantum_errors.items():
                reduced.add_all_qubit_quantum_error(error, gate)
            if full._default_readout_error is not None:
                reduced.add_all_qubit_readout_error(full._default_readout_error)
            self._reduced[key] = reduced
            return reduced


def _as_pub_tuple(pub: Any) -> Any:
    if isinstance(pub, list):
        return tuple(pub)
    return pub


def _pub_circuit(pub: Any) -> QuantumCircuit:
    if isinstance(pub, QuantumCircuit):
        return pub
    if isinstance(pub, (tuple, list)) and pub and isinstance(pub[0], QuantumCircuit):
        return pub[0]
    circuit = getattr(pub, "circuit", None)
    if isinstance(circuit, QuantumCircuit):
        return circuit
    raise JobFailure(f"Invalid pub: expected a circuit, got {type(pub).__name__}", 1502)


def active_qubits(circuit: QuantumCircuit) -> frozenset[int]:
    """Physical qubits a circuit acts on (barriers and delays ignored)."""
    used: set[int] = set()
    for inst in circuit.data:
        if inst.operation.name in _IGNORED_OPS:
            continue
        used.update(circuit.find_bit(q).index for q in inst.qubits)
    return frozenset(used)


def validate_circuit(circuit: QuantumCircuit, target: Any, num_qubits: int, index: int) -> None:
    """Reject circuits the service would reject: too wide, or not ISA for the target.

    Raises:
        JobFailure: With reason code 1519 (too many qubits) or 1517 (not ISA).
    """
    if circuit.num_qubits > num_qubits:
        raise JobFailure(
            f"Pub {index}: circuit has {circuit.num_qubits} qubits but the backend has "
            f"{num_qubits}.",
            1519,
        )
    for inst in circuit.data:
        name = inst.operation.name
        if name in _IGNORED_OPS:
            continue
        qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
        if not target.instruction_supported(name, qargs):
            raise JobFailure(
                f"Pub {index}: the instruction {name} on qubits {qargs} is not supported by the "
                "target. Circuits must obey the ISA of the backend (transpile them first).",
                1517,
            )


def _asarray_databin(data: DataBin) -> DataBin:
    fields = {}
    for key in data:
        value = data[key]
        fields[key] = value if hasattr(value, "get_counts") else np.asarray(value)
    return DataBin(**fields, shape=data.shape)


def _normalise(result: PrimitiveResult) -> PrimitiveResult:
    pubs = []
    for pub in result:
        data = _asarray_databin(pub.data)
        cls = SamplerPubResult if isinstance(pub, SamplerPubResult) else PubResult
        pubs.append(cls(data, metadata=pub.metadata))
    return PrimitiveResult(pubs, metadata=result.metadata)


@dataclass(frozen=True)
class PrimitiveJob:
    """A decoded, validated sampler or estimator job, ready to simulate."""

    pubs: list[Any]
    options: dict[str, Any]
    simulator: Any
    """The device's Aer simulator, configured for this job."""


def decode_primitive_job(
    job: JobRecord,
    catalog: BackendCatalog,
    noise: str,
    measured: Callable[[Any], frozenset[int]] = lambda pub: frozenset(),
) -> PrimitiveJob:
    """Decode a sampler/estimator job, validate its circuits and configure the simulator.

    Args:
        job: The job.
        catalog: Published backends.
        noise: ``none``, ``reduced`` or ``device``.
        measured: Qubits a pub measures beyond those its circuit acts on.

    Raises:
        JobFailure: For undecodable parameters, no pubs, or circuits the device rejects.
    """
    try:
        params = decode_params(job.params)
    except Exception as exc:
        raise JobFailure(f"Could not decode the job parameters: {exc}", 1502) from exc
    pubs = [_as_pub_tuple(p) for p in params.get("pubs") or []]
    if not pubs:
        raise JobFailure("The job has no pubs.", 1502)
    options = params.get("options") or {}
    active = _validate_pubs(pubs, catalog, job.backend, measured)
    simulator = _configure_simulator(catalog, job.backend, noise, active, options)
    return PrimitiveJob(pubs, options, simulator)


def _validate_pubs(
    pubs: list[Any],
    catalog: BackendCatalog,
    backend: str,
    measured: Callable[[Any], frozenset[int]],
) -> frozenset[int]:
    """Validate every pub's circuit; return the qubits the pubs use or measure together."""
    target = catalog.fake(backend).target
    width = catalog.num_qubits(backend)
    used: set[int] = set()
    for index, pub in enumerate(pubs):
        circuit = _pub_circuit(pub)
        validate_circuit(circuit, target, width, index)
        used |= active_qubits(circuit) | measured(pub)
    return frozenset(used)


def observed_qubits(pub: Any) -> frozenset[int]:
    """Qubits an estimator pub's observables act on non-trivially.

    The estimator measures these qubits, so the simulation must include them even
    where the circuit leaves them idle.
    """
    try:
        observables = EstimatorPub.coerce(pub).observables
    except (TypeError, ValueError) as exc:
        raise JobFailure(f"Invalid estimator pub: {exc}", 1502) from exc
    used: set[int] = set()
    for terms in observables.ravel():
        for label in terms:
            used.update(i for i, char in enumerate(reversed(label)) if char != "I")
    return frozenset(used)


def _configure_simulator(
    catalog: BackendCatalog,
    backend: str,
    noise: str,
    active: frozenset[int],
    options: dict[str, Any],
) -> Any:
    """Set the device simulator's noise model, method and seed for one job."""
    simulator = catalog.simulator(backend)
    seed = (options.get("simulator") or {}).get("seed_simulator")
    simulator.set_options(
        noise_model=catalog.noise_model(backend, noise, active),
        method=simulation_method(len(active)),
        seed_simulator=seed,
    )
    return simulator


def simulation_method(num_active: int) -> str:
    """The Aer method for a job that acts on ``num_active`` qubits."""
    return "automatic" if num_active <= _SIM_WIDTH_LIMIT else "matrix_product_state"


def run_sampler(job: JobRecord, catalog: BackendCatalog, noise: str) -> str:
    """Run a ``sampler`` job; default shots 4096 as on the service."""
    prepared = decode_primitive_job(job, catalog, noise)
    shots = int(prepared.options.get("default_shots") or 4096)
    sampler = BackendSamplerV2(backend=prepared.simulator, options={"default_shots": shots})
    start = datetime.now(UTC)
    result = _normalise(sampler.run(prepared.pubs).result())
    return encode_result(with_execution_spans(result, start, datetime.now(UTC)))


def with_execution_spans(
    result: PrimitiveResult, start: datetime, stop: datetime
) -> PrimitiveResult:
    """Add the service's ``metadata["execution"]["execution_spans"]`` to a sampler result.

    Every pub ran in one simulation from ``start`` to ``stop``, so each gets one
    :class:`DoubleSliceSpan` covering all its parameter sets and shots.
    """
    spans = []
    for index, pub in enumerate(result):
        bits = next(iter(pub.data.values()), None)
        if bits is None or not hasattr(bits, "num_shots"):
            continue
        shape = (*bits.shape, bits.num_shots)
        args = slice(0, int(np.prod(bits.shape, dtype=int)))
        spans.append(DoubleSliceSpan(start, stop, {index: (shape, args, slice(0, bits.num_shots))}))
    metadata = {**result.metadata, "execution": {"execution_spans": ExecutionSpans(spans)}}
    return PrimitiveResult(list(result), metadata=metadata)


def run_estimator(job: JobRecord, catalog: BackendCatalog, noise: str) -> str:
    """Run an ``estimator`` job with the precision its options ask for."""
    prepared = decode_primitive_job(job, catalog, noise, measured=observed_qubits)
    options: dict[str, Any] = {}
    precision = prepared.options.get("default_precision")
    shots = prepared.options.get("default_shots")
    if precision is None and shots:
        precision = 1 / float(np.sqrt(shots))
    if precision is not None:
        options["default_precision"] = float(precision)
    estimator = BackendEstimatorV2(backend=prepared.simulator, options=options)
    result = _normalise(estimator.run(prepared.pubs).result())
    return encode_result(_with_service_shots(result, prepared.options))


def _with_service_shots(result: PrimitiveResult, options: dict[str, Any]) -> PrimitiveResult:
    """Report each pub's shots as the service counts them (twirling: randomizations * shots)."""
    pubs = []
    for pub in result:
        precision = pub.metadata.get("target_precision")
        shots = estimator_shots(precision if isinstance(precision, float) else None, options)
        pubs.append(type(pub)(pub.data, metadata={**pub.metadata, "shots": shots}))
    return PrimitiveResult(pubs, metadata=result.metadata)


ProgramRunner = Callable[["JobRecord", BackendCatalog, str], str]

#: Program id -> function that runs a job of that program and returns its result
#: text. A program is available once it has an entry here.
PROGRAMS: dict[str, ProgramRunner] = {
    "sampler": run_sampler,
    "estimator": run_estimator,
}


def run_job(job: JobRecord, catalog: BackendCatalog, noise: str) -> str:
    """Execute a job with its program's runner and return the encoded result.

    Args:
        job: The job.
        catalog: Published backends.
        noise: ``none``, ``reduced`` or ``device``.

    Returns:
        The encoded result.

    Raises:
        JobFailure: For an unknown program or invalid input, with the service's reason code.
    """
    runner = PROGRAMS.get(job.program)
    if runner is None:
        raise JobFailure(f"Program {job.program} is not available.", 1502)
    return runner(job, catalog, noise)


class Executor:
    """The emulated QPU: one FIFO worker thread.

    Args:
        store: Job store.
        catalog: Published backends.
        config: Shared mutable configuration (``queue_delay``, ``run_delay``,
            ``noise``, ``paused``).
    """

    def __init__(self, store: StateStore, catalog: BackendCatalog, config: dict[str, Any]) -> None:
        self.store = store
        self.catalog = catalog
        self.config = config
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current: str | None = None

    def start(self) -> None:
        """Start the worker thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="qcsc-emulator-qpu", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker (after the job it is running, if any)."""
        self._stop.set()
        self.store.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Re-check the queue (after a submit or configuration change)."""
        self.store.notify()

    def _next_job(self) -> JobRecord | None:
        """Wait for the oldest runnable queued job and start it; None when stopping."""
        while not self._stop.is_set():
            wait: float | None = None
            if not self.config.get("paused") and not self.usage_limit_reached():
                job, wait = self.store.start_next_job(float(self.config.get("queue_delay") or 0.0))
                if job is not None:
                    return job
            self.store.wait_for_change(wait if wait is not None else 1.0)
        return None

    def consumed_seconds(self) -> float:
        """The instance's consumed QPU seconds: the configured start value plus the jobs' usage."""
        return (
            float(self.config.get("usage_consumed_seconds") or 0.0) + self.store.consumed_seconds()
        )

    def usage_limit_reached(self) -> bool:
        """Whether the instance's usage limit is set and reached (queued jobs then wait)."""
        limit = self.config.get("usage_limit_seconds")
        return limit is not None and self.consumed_seconds() >= float(limit)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._next_job()
                if job is None:
                    return
                self._execute(job)
            except BaseException:
                logger.exception("Emulator worker error")
                time.sleep(0.05)

    def _execute(self, job: JobRecord) -> None:
        self.current = job.id
        started = time.time()
        try:
            result = run_job(job, self.catalog, str(self.config.get("noise") or "none"))
        except JobFailure as exc:
            text = f"Error code {exc.reason_code}; {exc}"
            self._fail(job, str(exc), exc.reason_code, text)
            return
        except BaseException as exc:  # PanicException from Rust derives from BaseException
            text = "".join(traceback.format_exception(exc))
            self._fail(job, f"Error during execution: {exc}", 1517, text)
            return
        finally:
            self.current = None
        run_delay = 0.0 if is_mock(job.backend) else float(self.config.get("run_delay") or 0.0)
        remaining = run_delay - (time.time() - started)
        if remaining > 0:
            self._stop.wait(remaining)
        self.store.finish_job(job.id, JobState.COMPLETED, result=result)

    def _fail(self, job: JobRecord, reason: str, reason_code: int, text: str) -> None:
        self.store.finish_job(
            job.id, JobState.FAILED, result=text, reason=reason, reason_code=reason_code
        )
