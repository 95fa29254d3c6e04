"""Native primitives and jobs: building a primitive, submitting, status, result and metrics.

Everything that talks to the service is a plain blocking function; the tasks call them on the
client pool (`pool`), each wait bounded.

The heavy imports happen at module import time on purpose: qiskit can crash when it is first
imported inside a worker thread that later exits, and the tasks call these functions from the
client pool's worker threads (a replacement worker exits once the stall it stood in for ends).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import qiskit_ibm_runtime
from qiskit.primitives import BaseSamplerV2
from qiskit.providers import JobStatus as QiskitJobStatus
from qiskit_ibm_runtime import Batch, Session
from qiskit_ibm_runtime.executor import Executor
from qiskit_ibm_runtime.executor_estimator import Estimator as ExecutorEstimator
from qiskit_ibm_runtime.executor_sampler import Sampler as ExecutorSampler
from qiskit_ibm_runtime.fake_provider.local_runtime_job import LocalRuntimeJob
from qiskit_ibm_runtime.options_models.executor import ExecutorOptions
from qiskit_ibm_runtime.quantum_program import QuantumProgram
from qiskit_ibm_runtime.quantum_program.params_converters import QUANTUM_PROGRAM_PARAMS_CONVERTERS

try:  # the `local` extra; imported here, on the importing thread (see the module docstring)
    import qiskit_aer  # noqa: F401
except ImportError:  # the bare install: channel="local" names the extra to add
    pass

from ..errors import InvalidInputError, JobFailedError, QCSCQiskitError, RuntimeConfigError
from .answers import final_document
from .post_attempts import forget_last_post, last_post_sent_once
from .translate import translating_errors

if TYPE_CHECKING:
    from qiskit.primitives import PrimitiveResult

    from ..jobs import JobStatus, PrimitiveApi, PrimitiveName

# SamplerV2/EstimatorV2 and their options are deprecated since qiskit-ibm-runtime 0.50 and may
# leave the client from 0.52: only `primitive_api="v2"` needs them, so their absence must not
# stop the library from importing (docs/compatibility.md).
if TYPE_CHECKING:
    from qiskit_ibm_runtime import EstimatorOptions, SamplerOptions
else:
    SamplerOptions = getattr(qiskit_ibm_runtime, "SamplerOptions", dict)
    EstimatorOptions = getattr(qiskit_ibm_runtime, "EstimatorOptions", dict)


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
    if api == "executor":  # imported above: this runs on the client pool's threads
        return ExecutorSampler if primitive == "sampler" else ExecutorEstimator
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


def submit_watched(
    primitive: Any,
    pubs: Sequence[object],
    *,
    shots: int | None = None,
    precision: float | None = None,
) -> tuple[Any, bool]:
    """`submit`, and whether the client sent its ``POST /jobs`` once (`post_attempts`)."""
    forget_last_post()
    job = submit(primitive, pubs, shots=shots, precision=precision)
    return job, last_post_sent_once()


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


def job_service_report(job: Any, result: Any = None) -> ServiceReport:
    """Collect the timestamps and usage of a finished job, best effort.

    The job's final document, as the service already returned it to this process (the status
    read that found the job finished, or a job-list page: `answers`), gives its creation and end
    times and its usage; the result's execution spans (sampler results) give when it started
    running. Only when no final document was seen is ``job.metrics()`` asked (one request).
    Local-mode jobs have no service, so nothing is reported for them. Failures to read are
    swallowed: metadata must never cost the result.

    Args:
        job: The finished client job.
        result: Its ``PrimitiveResult``, when already downloaded.
    """
    if is_local_job(job):
        return ServiceReport()
    doc = final_document(job)
    if doc is not None:
        return _report_from_document(doc, result)
    try:
        with translating_errors(str(job.job_id())):
            metrics = job.metrics()
    except Exception:
        return ServiceReport()
    if not isinstance(metrics, Mapping):
        return ServiceReport()
    timestamps = metrics.get("timestamps")
    timestamps = timestamps if isinstance(timestamps, Mapping) else {}
    return ServiceReport(
        created=text_or_none(timestamps.get("created")),
        started=text_or_none(timestamps.get("running")) or _first_span_start(result),
        finished=text_or_none(timestamps.get("finished")),
        usage=_usage_report(metrics.get("usage")),
    )


def _report_from_document(doc: Mapping[str, Any], result: Any) -> ServiceReport:
    return ServiceReport(
        created=text_or_none(doc.get("created")),
        started=_first_span_start(result),
        finished=text_or_none(doc.get("ended")),
        usage=_usage_report(doc.get("usage")),
    )


def _usage_report(usage: object) -> dict[str, object] | None:
    if not isinstance(usage, Mapping):
        return None
    report = {str(k): v for k, v in usage.items() if _is_json_scalar(v)}
    quantum = usage.get("quantum_seconds", usage.get("qpu_charge_time_seconds"))
    if isinstance(quantum, (int, float)) and not isinstance(quantum, bool):
        report["quantum_seconds"] = float(quantum)
    return report


def _first_span_start(result: Any) -> str | None:
    """When the job started running, from a result's execution spans (sampler results)."""
    try:
        spans = result.metadata["execution"]["execution_spans"]
        start = getattr(spans, "start", None)
    except (AttributeError, KeyError, TypeError):
        return None
    return None if start is None else str(start.isoformat())


def _is_json_scalar(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))


def text_or_none(value: object) -> str | None:
    """``None`` stays ``None``; anything else becomes its ``str``."""
    return None if value is None else str(value)


__all__ = [
    "DECODE_ATTEMPTS",
    "EstimatorOptions",
    "SamplerOptions",
    "ServiceReport",
    "as_runtime_program",
    "build_primitive",
    "canonical_program",
    "execution_mode_class",
    "is_local_job",
    "job_service_report",
    "known_session_id",
    "native_job_status",
    "primitive_class",
    "submit",
    "submit_watched",
    "text_or_none",
    "wait_for_result",
]
