"""The native Qiskit Runtime side: services, backends, primitives, job status and metadata.

With ``_translate.py`` and ``serializers.py`` this is the only module that imports
``qiskit_ibm_runtime``, and the only one that reads a token's secret value. Everything that
talks to the service is a plain blocking function; the tasks call them on the client pool
(``_blocking``), each wait bounded.

The heavy imports happen at module import time on purpose: qiskit can crash when it is first
imported inside a worker thread that later exits, and the tasks call these functions from the
client pool's worker threads (a replacement worker exits once the stall it stood in for ends).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import qiskit_aer  # noqa: F401  (imported here, on the importing thread; see module docstring)
import qiskit_ibm_runtime
from qiskit.primitives import BaseSamplerV2
from qiskit.providers import BackendV2
from qiskit.providers import JobStatus as QiskitJobStatus
from qiskit_ibm_runtime import Batch, QiskitRuntimeService, Session
from qiskit_ibm_runtime.executor import Executor
from qiskit_ibm_runtime.fake_provider.local_runtime_job import LocalRuntimeJob
from qiskit_ibm_runtime.options_models.executor import ExecutorOptions
from qiskit_ibm_runtime.quantum_program import QuantumProgram
from qiskit_ibm_runtime.quantum_program.params_converters import QUANTUM_PROGRAM_PARAMS_CONVERTERS
from qiskit_ibm_runtime.runtime_job_v2 import API_TO_JOB_STATUS

from ._translate import drop_http_exchanges, exception_chain, translating_errors
from .errors import (
    BackendNotFoundError,
    InvalidInputError,
    JobFailedError,
    QCSCQiskitError,
    RuntimeConfigError,
)
from .jobs import FetchOutput, JobStatus, PrimitiveApi, PrimitiveName

if TYPE_CHECKING:
    from qiskit.primitives import PrimitiveResult

    from .blocks import QiskitRuntimeConfig

# SamplerV2/EstimatorV2 and their options are deprecated since qiskit-ibm-runtime 0.50 and may
# leave the client from 0.52: only `primitive_api="v2"` needs them, so their absence must not
# stop the library from importing (docs/compatibility.md).
if TYPE_CHECKING:
    from qiskit_ibm_runtime import EstimatorOptions, SamplerOptions
else:
    SamplerOptions = getattr(qiskit_ibm_runtime, "SamplerOptions", dict)
    EstimatorOptions = getattr(qiskit_ibm_runtime, "EstimatorOptions", dict)

#: Environment variables that change which server a ``QiskitRuntimeService`` reaches (account
#: discovery and the redirection knobs used by tests and the emulator). Their values are part
#: of the service cache key.
REDIRECTING_ENV_VARS: Final[tuple[str, ...]] = (
    "QISKIT_IBM_TOKEN",
    "QISKIT_IBM_URL",
    "QISKIT_IBM_INSTANCE",
    "QISKIT_IBM_CHANNEL",
    "IAM_URL",
    "GLOBAL_SEARCH_URL",
    "GLOBAL_CATALOG_URL",
    "QISKIT_FUNCTIONS_EXPERIMENTAL",
)

#: Config fields passed to ``QiskitRuntimeService`` (config field -> constructor argument).
_SERVICE_ARGUMENTS: Final[tuple[tuple[str, str], ...]] = (
    ("channel", "channel"),
    ("instance", "instance"),
    ("url", "url"),
    ("account_name", "name"),
    ("filename", "filename"),
    ("verify", "verify"),
    ("proxies", "proxies"),
    ("private_endpoint", "private_endpoint"),
    ("region", "region"),
    ("plans_preference", "plans_preference"),
)

#: How many backend names a "backend not found" message lists.
_SUGGESTED_BACKENDS: Final = 8

_K = TypeVar("_K")
_V = TypeVar("_V")


class _OncePerKey(Generic[_K, _V]):
    """A thread-safe memo: ``get(key, build)`` builds each value at most once per process.

    Builds for different keys run concurrently; a failed build is not remembered, so the next
    call tries again.
    """

    def __init__(self) -> None:
        self._values: dict[_K, _V] = {}
        self._locks: dict[_K, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: _K, build: Callable[[], _V]) -> _V:
        try:
            return self._values[key]
        except KeyError:
            pass
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = build()
            return self._values[key]

    def clear(self) -> None:
        with self._guard:
            self._values.clear()
            self._locks.clear()

    def __len__(self) -> int:
        return len(self._values)


_services: _OncePerKey[str, Any] = _OncePerKey()
_backends: _OncePerKey[tuple[str, str], BackendV2] = _OncePerKey()


# --------------------------------------------------------------------------- services


def service_cache_key(config: QiskitRuntimeConfig) -> str:
    """Return the in-process cache key of the service ``config`` describes.

    It is a SHA-256 over every account field (the token's value included) and the values of
    `REDIRECTING_ENV_VARS`. ``backend_name`` is left out: it does not change the service, and
    backends are cached per service and name. The key never leaves the process.
    """
    fields: dict[str, object] = {}
    for name in type(config).model_fields:
        if name == "backend_name":
            continue
        value = getattr(config, name)
        if name == "token":
            value = None if value is None else value.get_secret_value()
        fields[name] = value
    material = {
        "fields": fields,
        "environment": {var: os.environ.get(var) for var in REDIRECTING_ENV_VARS},
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


def build_service(config: QiskitRuntimeConfig) -> Any:
    """Build a new native ``QiskitRuntimeService`` from ``config`` (uncached).

    Only the fields that are set are passed, so unset fields fall back to qiskit-ibm-runtime's
    own account discovery. ``channel="local"`` gives the offline ``QiskitRuntimeLocalService``.

    Args:
        config: The runtime configuration.

    Returns:
        The native service.

    Raises:
        RuntimeConfigError: The service could not be built. If the underlying error text
            contained the token, the text is redacted and the cause is not chained.
        RuntimeAuthError: The service rejected the credentials.
    """
    if config.channel == "local":
        return QiskitRuntimeService(channel="local")
    kwargs: dict[str, Any] = {
        argument: getattr(config, field)
        for field, argument in _SERVICE_ARGUMENTS
        if getattr(config, field) is not None
    }
    secret = None if config.token is None else config.token.get_secret_value()
    if secret is not None:
        kwargs["token"] = secret
    return call_keeping_secret_out(secret, lambda: _construct_service(kwargs))


def _construct_service(kwargs: dict[str, Any]) -> Any:
    try:
        with translating_errors():
            return QiskitRuntimeService(**kwargs)
    except QCSCQiskitError:
        raise
    except Exception as exc:
        raise RuntimeConfigError(
            f"could not build a QiskitRuntimeService from the configuration: {exc}"
        ) from exc


def call_keeping_secret_out(secret: str | None, call: Callable[[], _V]) -> _V:
    """Return ``call()``; if it raises with ``secret`` in any error text, raise it redacted.

    The redacted error is a `RuntimeConfigError` raised outside the ``except`` block, so it
    has neither ``__cause__`` nor ``__context__``: nothing that prints or pickles the
    exception can reach the original text.
    """
    leaked: BaseException | None = None
    try:
        return call()
    except Exception as exc:
        drop_http_exchanges(exc)  # an IAM request's body holds the key
        if not secret or not any(secret in str(link) for link in exception_chain(exc)):
            raise
        leaked = exc
    assert secret is not None
    redacted = str(leaked).replace(secret, "**********")
    kind = type(leaked).__name__
    del leaked
    raise RuntimeConfigError(
        f"could not build a QiskitRuntimeService ({kind}): {redacted} "
        "[the original error is withheld because its text contained the token]"
    )


def cached_service(config: QiskitRuntimeConfig) -> Any:
    """Return the process-wide service for ``config``, building it on first use."""
    return _services.get(service_cache_key(config), lambda: build_service(config))


def cached_backend(config: QiskitRuntimeConfig) -> BackendV2:
    """Return the native backend ``config.backend_name``, cached per service and name.

    Raises:
        BackendNotFoundError: The name is unknown; the message lists some names that exist.
    """
    key = service_cache_key(config)
    service = _services.get(key, lambda: build_service(config))
    return _backends.get(
        (key, config.backend_name), lambda: lookup_backend(service, config.backend_name)
    )


def clear_caches() -> None:
    """Forget every cached service and backend (tests, or after rotating credentials)."""
    _backends.clear()
    _services.clear()


def lookup_backend(service: Any, backend_name: str) -> BackendV2:
    """Return ``service.backend(backend_name)``, explaining an unknown name.

    Args:
        service: A native ``QiskitRuntimeService`` (or the local service).
        backend_name: The backend to look up.

    Returns:
        The native backend.

    Raises:
        BackendNotFoundError: No such backend; the message lists up to eight that exist, the
            closest names first.
    """
    try:
        with translating_errors(), warnings.catch_warnings():
            # Local mode instantiates every fake backend to find one; some warn that their
            # properties are synthetic, which says nothing about the one asked for.
            warnings.filterwarnings("ignore", message="Properties of fake_", category=UserWarning)
            backend: BackendV2 = service.backend(backend_name)
            # IBMBackend fetches its properties lazily, on the first `target` access. Load them
            # here, on the client thread and under the error translation, instead of later in
            # input validation (on the event loop, where a 429 escaped untranslated).
            _ = backend.target
            return backend
    except BackendNotFoundError:
        pass
    available = _available_backend_names(service)
    close = difflib.get_close_matches(backend_name, available, n=3, cutoff=0.5)
    shown = tuple(dict.fromkeys([*close, *available]))[:_SUGGESTED_BACKENDS]
    where = "the local channel (fake backends)" if _is_local(service) else "this account"
    if shown:
        listing = f"Backends that exist include: {', '.join(shown)}"
        if len(available) > len(shown):
            listing += f" ({len(available)} in total)"
    else:
        listing = "The service listed no backends at all; check the instance and channel"
    raise BackendNotFoundError(
        f"backend '{backend_name}' was not found on {where}. {listing}.",
        backend_name=backend_name,
        available=shown,
    )


def _available_backend_names(service: Any) -> list[str]:
    try:
        with translating_errors(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Properties of fake_", category=UserWarning)
            return sorted(str(backend.name) for backend in service.backends())
    except Exception:  # the listing only decorates an error message
        return []


def _is_local(service: Any) -> bool:
    is_local = getattr(service, "is_local", False)
    return is_local is True


# --------------------------------------------------------------------------- programs and modes


def execution_mode_class(mode: str) -> Any:
    """The native ``Batch`` (``mode="batch"``) or ``Session`` class."""
    return Batch if mode == "batch" else Session


def as_runtime_program(program: Any) -> Any:
    """The client's ``QuantumProgram`` for ``program`` (converted from samplomatic's if needed)."""
    return program if isinstance(program, QuantumProgram) else QuantumProgram.from_(program)


def canonical_program(program: Any) -> str:
    """The program as the client would post it (executor parameters, schema v2.0), as JSON.

    Raises:
        InvalidInputError: The client cannot encode the program.
    """
    try:
        params = QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"].encoder(
            as_runtime_program(program), ExecutorOptions()
        )
        return str(params.model_dump_json())
    except Exception as exc:
        raise InvalidInputError(
            f"the QuantumProgram cannot be encoded for the executor: {exc}", argument="pubs"
        ) from exc


# --------------------------------------------------------------------------- primitives


def primitive_class(primitive: PrimitiveName, api: PrimitiveApi = "v2") -> Any:
    """The native class that runs ``primitive`` through ``api``.

    ``"v2"`` is ``SamplerV2``/``EstimatorV2`` (programs ``sampler``/``estimator``);
    ``"executor"`` is the client-side ``executor_sampler.Sampler``/``executor_estimator.Estimator``
    (program ``executor``), which qiskit-ibm-runtime recommends since 0.50.
    """
    if api == "executor":
        if primitive == "sampler":
            from qiskit_ibm_runtime.executor_sampler import Sampler

            return Sampler
        from qiskit_ibm_runtime.executor_estimator import Estimator

        return Estimator
    name = "SamplerV2" if primitive == "sampler" else "EstimatorV2"
    found = getattr(qiskit_ibm_runtime, name, None)
    if found is None:
        raise RuntimeConfigError(
            f"qiskit-ibm-runtime {qiskit_ibm_runtime.__version__} no longer provides {name}, "
            'which primitive_api="v2" runs; set primitive_api="executor" on the '
            "QiskitRuntimeConfig (docs/compatibility.md), or install qiskit-ibm-runtime<0.52"
        )
    return found


def build_primitive(
    primitive: PrimitiveName,
    backend: Any,
    options: object | None = None,
    api: PrimitiveApi = "v2",
    *,
    program: bool = False,
) -> Any:
    """Create the native primitive of ``api`` on ``backend`` (or a ``Batch``/``Session``).

    Args:
        primitive: ``"sampler"`` or ``"estimator"``.
        backend: The native backend (job mode), or a native ``Batch``/``Session``.
        options: Native options: a dict or the options object of ``api``'s primitive; ``None``
            keeps qiskit-ibm-runtime's defaults.
        api: ``"v2"`` (``SamplerV2``/``EstimatorV2``) or ``"executor"`` (the client-side
            executor primitives).
        program: Build the ``Executor`` itself, for a raw ``QuantumProgram`` input.

    Returns:
        The native primitive.

    Raises:
        InvalidInputError: The options were rejected (``argument="options"``).
    """
    cls = Executor if program else primitive_class(primitive, api)
    try:
        if options is None:
            return cls(mode=backend)
        return cls(mode=backend, options=options)
    # pydantic's ValidationError is a ValueError; a mistyped nested section (for example
    # {"environment": 3}) fails inside qiskit-ibm-runtime's merge with AttributeError.
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(
            f"the {primitive} options were rejected: {exc}", argument="options"
        ) from exc


def submit(
    primitive: Any,
    pubs: Sequence[object],
    *,
    shots: int | None = None,
    precision: float | None = None,
) -> Any:
    """Call the native ``primitive.run`` and return the native job (blocking)."""
    with translating_errors():
        if isinstance(primitive, Executor):
            return primitive.run(as_runtime_program(pubs))
        if isinstance(primitive, BaseSamplerV2):
            return primitive.run(pubs, shots=shots)
        return primitive.run(pubs, precision=precision)


def wait_for_result(job: Any) -> PrimitiveResult:
    """Block until ``job`` finishes and return its native ``PrimitiveResult``.

    Raises:
        JobFailedError: The job failed (a local-mode simulation error included).
        JobCancelledError: The job was cancelled.
    """
    job_id = str(job.job_id())
    for attempt in range(1, DECODE_ATTEMPTS + 1):
        try:
            with translating_errors(job_id), _decode_guard(attempt):
                result: PrimitiveResult = job.result()
                return result
        except QCSCQiskitError:
            raise
        except SystemError as exc:
            # Decoding, not the job, failed: on Python 3.11, threads that compile at once (numpy
            # parses each array header with `ast.literal_eval`) can trip the interpreter's AST
            # depth check. The job's final status is cached, so trying again only re-reads the
            # result; retries run one at a time.
            if is_local_job(job):
                raise JobFailedError(f"Qiskit job {job_id} failed: {exc}", job_id=job_id) from exc
            if attempt == DECODE_ATTEMPTS:
                raise
        except Exception as exc:  # local mode raises the simulator's own exception
            raise JobFailedError(f"Qiskit job {job_id} failed: {exc}", job_id=job_id) from exc
    raise AssertionError("unreachable")  # pragma: no cover


#: Attempts at reading a finished job's result when decoding it fails inside the interpreter.
DECODE_ATTEMPTS: Final = 3
_DECODE_RETRY_LOCK: Final = threading.Lock()


@contextmanager
def _decode_guard(attempt: int) -> Iterator[None]:
    """Nothing on the first attempt; a retry holds a process-wide lock."""
    if attempt == 1:
        yield
        return
    with _DECODE_RETRY_LOCK:
        yield


def native_job_status(job: Any) -> JobStatus:
    """Return the job's status in Qiskit Runtime's string vocabulary.

    Local-mode jobs report a ``qiskit.providers.JobStatus`` enum; it is mapped to the runtime
    strings (``VALIDATING`` becomes ``"INITIALIZING"``).
    """
    with translating_errors(str(job.job_id())):
        raw = job.status()
    if isinstance(raw, QiskitJobStatus):
        return _ENUM_STATUS[raw]
    text = str(raw).upper()
    if text in _RUNTIME_STATUSES:
        return _RUNTIME_STATUSES[text]
    raise JobFailedError(f"unknown job status {raw!r}", job_id=str(job.job_id()))


_ENUM_STATUS: Final[dict[QiskitJobStatus, JobStatus]] = {
    QiskitJobStatus.INITIALIZING: "INITIALIZING",
    QiskitJobStatus.VALIDATING: "INITIALIZING",
    QiskitJobStatus.QUEUED: "QUEUED",
    QiskitJobStatus.RUNNING: "RUNNING",
    QiskitJobStatus.CANCELLED: "CANCELLED",
    QiskitJobStatus.DONE: "DONE",
    QiskitJobStatus.ERROR: "ERROR",
}
_RUNTIME_STATUSES: Final[dict[str, JobStatus]] = {
    "INITIALIZING": "INITIALIZING",
    "QUEUED": "QUEUED",
    "RUNNING": "RUNNING",
    "CANCELLED": "CANCELLED",
    "DONE": "DONE",
    "ERROR": "ERROR",
}


def known_session_id(job: Any) -> str | None:
    """The Batch/Session id the client already holds for ``job``, without asking the service.

    ``RuntimeJobV2`` keeps the id it got from the submit or list response. Its public
    ``session_id`` property asks the service again (a blocking request) every time the id is
    unset, which is the case for every job that is not in a Batch/Session.
    """
    value = getattr(job, "_session_id", None)
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class ListedJob:
    """A job as the service's job list describes it; no client job object is built for it.

    Attributes:
        job_id: The job id.
        status: Its status in the client's vocabulary (``"QUEUED"``, ``"DONE"``, ...).
        created: When the service created it (UTC; the epoch when not reported).
        session_id: The Batch/Session it belongs to, if any.
    """

    job_id: str
    status: str
    created: datetime
    session_id: str | None


#: The service's reason code for a job it cancelled because it failed (the client reports ERROR).
_FAILED_CANCEL_REASON: Final = 1305
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def list_tagged_jobs(service: Any, tag: str, limit: int) -> list[ListedJob]:
    """The jobs carrying ``tag``, from one job-list request (blocking; errors untranslated).

    ``service.jobs()`` would build a client job object, with its own copy of the backend's
    configuration, for every listed job, and each status would cost one request more; the
    list response already holds what a tag lookup needs. Falls back to the public calls when
    the client has no job-list connection.
    """
    connection = getattr(service, "_active_api_client", None)
    if not callable(getattr(connection, "jobs_get", None)):
        jobs = service.jobs(job_tags=[tag], limit=limit)
        return [
            ListedJob(
                str(job.job_id()),
                native_job_status(job),
                _as_utc(_moment(job.creation_date)),
                known_session_id(job),
            )
            for job in jobs
        ]
    assert connection is not None
    page: Mapping[str, Any] = connection.jobs_get(limit=limit, job_tags=[tag])
    return [_listed(doc) for doc in page.get("jobs") or []]


def job_connection(job: Any) -> Any | None:
    """The client connection ``job`` was submitted through, if it can list jobs.

    ``None`` for local-mode jobs. The shared status poller lists pending jobs through it, so
    that jobs submitted through different accounts are never mixed up.
    """
    connection = getattr(job, "_api_client", None)
    return connection if callable(getattr(connection, "jobs_get", None)) else None


def list_pending_jobs(connection: Any, *, skip: int, limit: int) -> Mapping[str, Any]:
    """One page of the pending jobs, as the service lists them (blocking; errors translated).

    Args:
        connection: From `job_connection`.
        skip: Jobs to skip (the page offset).
        limit: Jobs per page at most.

    Returns:
        The list response: ``jobs`` (each with ``id`` and ``state.status``) and ``count``.
    """
    with translating_errors():
        page: Mapping[str, Any] = connection.jobs_get(limit=limit, skip=skip, pending=True)
    return page


def _listed(doc: Mapping[str, Any]) -> ListedJob:
    state = doc.get("state") or {}
    raw = str(state.get("status") or doc.get("status") or "").upper()
    status: str = API_TO_JOB_STATUS.get(raw, raw)
    reason_code = state.get("reasonCode") or state.get("reason_code")
    if status == "CANCELLED" and reason_code == _FAILED_CANCEL_REASON:
        status = "ERROR"
    return ListedJob(
        job_id=str(doc["id"]),
        status=status,
        created=_as_utc(_moment(doc.get("created"))),
        session_id=_text_or_none(doc.get("session_id")),
    )


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _as_utc(moment: datetime | None) -> datetime:
    if moment is None:
        return _EPOCH
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def is_local_job(job: Any) -> bool:
    """Whether ``job`` ran in local mode (no service, no job id lookup, no usage)."""
    return isinstance(job, LocalRuntimeJob)


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True, slots=True)
class ServiceReport:
    """What the service says about a finished job, when it says anything.

    Attributes:
        created: When the job was created (ISO 8601, UTC), if reported.
        started: When the job started running (ISO 8601, UTC), if reported.
        finished: When the job finished (ISO 8601, UTC), if reported.
        usage: JSON-compatible usage figures (for example ``quantum_seconds``), if reported.
    """

    started: str | None = None
    finished: str | None = None
    usage: dict[str, object] | None = None
    created: str | None = None


def job_service_report(job: Any) -> ServiceReport:
    """Collect timestamps and usage of a finished job from ``job.metrics()``, best effort.

    Local-mode jobs have no service, so nothing is reported for them. Failures to read the
    metrics are swallowed: metadata must never cost the result.
    """
    if is_local_job(job):
        return ServiceReport()
    try:
        with translating_errors(str(job.job_id())):
            metrics = job.metrics()
    except Exception:
        return ServiceReport()
    if not isinstance(metrics, Mapping):
        return ServiceReport()
    timestamps = metrics.get("timestamps")
    timestamps = timestamps if isinstance(timestamps, Mapping) else {}
    usage = metrics.get("usage")
    usage_report: dict[str, object] | None = None
    if isinstance(usage, Mapping):
        usage_report = {str(k): v for k, v in usage.items() if _is_json_scalar(v)}
        quantum = usage.get("quantum_seconds", usage.get("qpu_charge_time_seconds"))
        if isinstance(quantum, (int, float)) and not isinstance(quantum, bool):
            usage_report["quantum_seconds"] = float(quantum)
    return ServiceReport(
        created=_text_or_none(timestamps.get("created")),
        started=_text_or_none(timestamps.get("running")),
        finished=_text_or_none(timestamps.get("finished")),
        usage=usage_report,
    )


def _is_json_scalar(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def execution_metadata(
    *,
    mode: str,
    primitive: PrimitiveName,
    num_pubs: int,
    shots: int | None,
    precision: float | None,
    status: JobStatus,
    submitted: datetime,
    finished: datetime,
    wall_seconds: float,
    report: ServiceReport,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Build the JSON-compatible ``metadata`` of a `FetchOutput`.

    Args:
        mode: ``"simple"`` for ``run_*_task``; robust fetch passes its own mode name.
        primitive: ``"sampler"`` or ``"estimator"``.
        num_pubs: How many pubs the job ran.
        shots: The requested default shots (sampler), or ``None``.
        precision: The requested default precision (estimator), or ``None``.
        status: The final job status.
        submitted: When the job was submitted (observed by us).
        finished: When the result was in hand (observed by us).
        wall_seconds: Seconds from submission to result, measured with a monotonic clock.
        report: Timestamps and usage reported by the service.
        extra: Further JSON-compatible entries to merge in.

    Returns:
        A dict with ``mode``, ``primitive``, ``num_pubs``, ``shots`` or ``precision``,
        ``job_status``, ``timings`` (``submitted``, ``started``, ``finished``,
        ``wall_seconds``) and ``usage`` (``None`` when the service reports none).
    """
    metadata: dict[str, object] = {"mode": mode, "primitive": primitive, "num_pubs": num_pubs}
    if primitive == "sampler":
        metadata["shots"] = shots
    else:
        metadata["precision"] = precision
    metadata["job_status"] = status
    metadata["timings"] = {
        "submitted": submitted.isoformat(),
        "started": report.started,
        "finished": report.finished or finished.isoformat(),
        "wall_seconds": round(wall_seconds, 6),
    }
    metadata["usage"] = report.usage
    if extra:
        metadata.update(extra)
    return metadata


def build_fetch_output(
    *,
    job_id: str,
    backend_name: str,
    primitive: PrimitiveName,
    status: JobStatus,
    result: PrimitiveResult,
    metadata: dict[str, object],
) -> FetchOutput:
    """Assemble the `FetchOutput` dict the run and fetch tasks return."""
    return FetchOutput(
        job_id=job_id,
        backend_name=backend_name,
        primitive=primitive,
        status=status,
        result=result,
        metadata=metadata,
    )


__all__ = [
    "REDIRECTING_ENV_VARS",
    "EstimatorOptions",
    "SamplerOptions",
    "ServiceReport",
    "build_fetch_output",
    "build_primitive",
    "build_service",
    "cached_backend",
    "cached_service",
    "call_keeping_secret_out",
    "clear_caches",
    "execution_metadata",
    "is_local_job",
    "job_service_report",
    "lookup_backend",
    "native_job_status",
    "service_cache_key",
    "submit",
    "utc_now",
    "wait_for_result",
]
