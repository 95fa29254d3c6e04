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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import qiskit_ibm_runtime.fake_provider as fake_provider
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2
from qiskit.primitives.containers import DataBin, PrimitiveResult, PubResult, SamplerPubResult
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel

from .codec import decode_params, encode_result
from .lifecycle import JobState

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
    _config: dict[str, Any] | None = None
    _properties: dict[str, Any] | None = None

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
        self._fakes: dict[str, Any] = {}
        self._sims: dict[str, Any] = {}
        self._noise: dict[str, Any] = {}
        self._reduced: dict[tuple[str, frozenset[int]], Any] = {}

    def names(self) -> list[str]:
        """Published backend names."""
        return list(self._devices)

    def __contains__(self, name: object) -> bool:
        return name in self._devices

    def _device(self, name: str) -> _Device:
        return self._devices[name]

    def configuration(self, name: str) -> dict[str, Any]:
        """Return the device configuration as ``GET /backends/{name}/configuration`` serves it."""
        dev = self._device(name)
        with self._lock:
            if dev._config is None:
                conf = json.loads((dev.directory / f"conf_{dev.short}.json").read_text("utf-8"))
                conf["backend_name"] = name
                conf["simulator"] = False
                conf["local"] = False
                dev._config = conf
            return dev._config

    def properties(self, name: str) -> dict[str, Any]:
        """Return the device properties (``props_*.json``)."""
        dev = self._device(name)
        with self._lock:
            if dev._properties is None:
                props = json.loads((dev.directory / f"props_{dev.short}.json").read_text("utf-8"))
                props["backend_name"] = name
                dev._properties = props
            return dev._properties

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


def run_job(job: JobRecord, catalog: BackendCatalog, noise: str) -> str:
    """Execute a job and return its result as RuntimeEncoder JSON text.

    Args:
        job: The job (program ``sampler`` or ``estimator``).
        catalog: Published backends.
        noise: ``none``, ``reduced`` or ``device``.

    Returns:
        The encoded :class:`PrimitiveResult`.

    Raises:
        JobFailure: For invalid input, with the service's reason code.
    """
    try:
        params = decode_params(job.params)
    except Exception as exc:
        raise JobFailure(f"Could not decode the job parameters: {exc}", 1502) from exc
    pubs = [_as_pub_tuple(p) for p in params.get("pubs") or []]
    if not pubs:
        raise JobFailure("The job has no pubs.", 1502)
    options = params.get("options") or {}
    fake = catalog.fake(job.backend)
    width = catalog.num_qubits(job.backend)
    used: set[int] = set()
    for index, pub in enumerate(pubs):
        circuit = _pub_circuit(pub)
        validate_circuit(circuit, fake.target, width, index)
        used |= active_qubits(circuit)

    sim = catalog.simulator(job.backend)
    noise_model = None
    if noise == "reduced":
        noise_model = catalog.reduced_noise(job.backend, frozenset(used))
    elif noise == "device":
        noise_model = catalog.device_noise(job.backend)
    method = "automatic" if len(used) <= _SIM_WIDTH_LIMIT else "matrix_product_state"
    sim.set_options(noise_model=noise_model, method=method)
    seed = (options.get("simulator") or {}).get("seed_simulator")
    if seed is not None:
        sim.set_options(seed_simulator=seed)
    else:
        sim.set_options(seed_simulator=None)

    if job.program == "sampler":
        shots = options.get("default_shots") or 4096
        sampler = BackendSamplerV2(backend=sim, options={"default_shots": int(shots)})
        result = sampler.run(pubs).result()
    else:
        est_options: dict[str, Any] = {}
        precision = options.get("default_precision")
        if precision is None and options.get("default_shots"):
            precision = 1 / float(np.sqrt(options["default_shots"]))
        if precision is not None:
            est_options["default_precision"] = float(precision)
        estimator = BackendEstimatorV2(backend=sim, options=est_options)
        result = estimator.run(pubs).result()
    return encode_result(_normalise(result))


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
        with self.store.lock:
            self.store.changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Re-check the queue (after a submit or configuration change)."""
        with self.store.lock:
            self.store.changed.notify_all()

    def _next_job(self) -> JobRecord | None:
        """Wait for the oldest runnable queued job; None when stopping."""
        store = self.store
        with store.lock:
            while not self._stop.is_set():
                wait: float | None = None
                if not self.config.get("paused"):
                    queued = [j for j in store.jobs.values() if j.status is JobState.QUEUED]
                    if queued:
                        job = min(queued, key=lambda j: j.created)
                        ready_at = job.created + float(self.config.get("queue_delay") or 0.0)
                        now = time.time()
                        if ready_at <= now:
                            store.transition(job, JobState.RUNNING)
                            return job
                        wait = ready_at - now
                store.changed.wait(wait if wait is not None else 1.0)
        return None

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
            self._finish(
                job,
                JobState.FAILED,
                reason=str(exc),
                reason_code=exc.reason_code,
                result=f"Error code {exc.reason_code}; {exc}",
            )
            return
        except BaseException as exc:
            text = "".join(traceback.format_exception(exc))
            self._finish(
                job,
                JobState.FAILED,
                reason=f"Error during execution: {exc}",
                reason_code=1517,
                result=text,
            )
            return
        finally:
            self.current = None
        run_delay = float(self.config.get("run_delay") or 0.0)
        remaining = run_delay - (time.time() - started)
        if remaining > 0:
            self._stop.wait(remaining)
        self._finish(job, JobState.COMPLETED, result=result)

    def _finish(
        self,
        job: JobRecord,
        state: JobState,
        *,
        reason: str | None = None,
        reason_code: int | None = None,
        result: str | None = None,
    ) -> None:
        with self.store.lock:
            if job.status is not JobState.RUNNING or self.store.jobs.get(job.id) is not job:
                return  # cancelled, forced or deleted meanwhile: drop the outcome
            self.store.transition(job, state, reason=reason, reason_code=reason_code, result=result)
