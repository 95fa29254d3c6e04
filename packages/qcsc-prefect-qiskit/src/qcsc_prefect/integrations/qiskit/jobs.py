"""Values that describe Qiskit Runtime jobs: status vocabulary, job references, task outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Final, Literal, TypeAlias, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from qiskit.primitives import PrimitiveResult  # noqa: TC002  (a TypedDict field type, needed at runtime)

from .errors import InvalidInputError

#: The primitives the library can run.
PrimitiveName: TypeAlias = Literal["sampler", "estimator"]

#: Which client API runs a primitive: ``SamplerV2``/``EstimatorV2`` or the executor primitives.
PrimitiveApi: TypeAlias = Literal["v2", "executor"]

#: Qiskit Runtime's own job status vocabulary (``RuntimeJobV2.status()``).
JobStatus: TypeAlias = Literal["INITIALIZING", "QUEUED", "RUNNING", "CANCELLED", "DONE", "ERROR"]

#: Statuses after which a job never changes again.
TERMINAL_STATUSES: Final[frozenset[str]] = frozenset({"DONE", "ERROR", "CANCELLED"})

#: Channels a :class:`~qcsc_prefect.integrations.qiskit.QiskitRuntimeConfig` may name.
ChannelName: TypeAlias = Literal["ibm_quantum_platform", "ibm_cloud", "local"]


class CacheLocation(BaseModel):
    """Where one submit-cache entry is stored (no credentials: Block ids and paths only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    result_storage: str | None = Field(
        default=None,
        description="`block:<id>` of a saved storage Block, `path:<dir>` of local storage, or "
        "None for the default result storage.",
    )
    key_storage: str | None = Field(
        default=None,
        description="The same for the cache policy's separate key storage, if it has one.",
    )


class JobReference(BaseModel):
    """A lightweight, JSON-serialisable reference to a submitted Qiskit Runtime job.

    It is what the submit tasks return and what the submit cache stores; the fetch task rebuilds
    the native job from ``job_id`` alone. It never holds credentials.

    Example:
        ```python
        ref = await submit_sampler_job_task(pubs, runtime_config=config, shots=100)
        print(ref.job_id, ref.backend_name)
        ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(description="The Qiskit Runtime job id.")
    primitive: PrimitiveName = Field(description="`sampler` or `estimator`.")
    backend_name: str = Field(description="The backend the job runs on.")
    channel: str | None = Field(default=None, description="The channel used, if configured.")
    instance: str | None = Field(default=None, description="The instance (CRN) used, if known.")
    input_digest: str | None = Field(
        default=None, description="The input digest the submission was keyed by, if any."
    )
    idempotency_tag: str | None = Field(
        default=None, description="The job tag that makes this submission idempotent."
    )
    submitted_at: datetime = Field(description="When the job was submitted (UTC).")
    session_id: str | None = Field(
        default=None, description="The Batch or Session the job runs in, if any."
    )
    execution_mode: Literal["job", "batch", "session"] = Field(
        default="job", description="How the job was submitted: alone, in a Batch or a Session."
    )
    flow_run_id: str | None = Field(
        default=None,
        description="The flow run that submitted or adopted the job; a later run that gets this "
        "reference from the cache sees another id.",
    )
    shots: int | None = Field(default=None, description="The default shots requested (sampler).")
    precision: float | None = Field(
        default=None, description="The default precision requested (estimator)."
    )
    reused: bool = Field(
        default=False,
        description="True when an existing job with the same idempotency tag was adopted.",
    )
    cache_key: str | None = Field(
        default=None,
        description="The Prefect cache key the submit task stored this reference under, so a "
        "failed job's entry can be invalidated.",
    )
    cache_location: CacheLocation | None = Field(
        default=None,
        description="Where the submit task stored this reference (storage Block ids or local "
        "paths), so the entry can be invalidated through Prefect's result store.",
    )


def parse_job_reference(value: object) -> JobReference | str:
    """Read a job reference in any accepted form: the one parser of the library.

    The rule:

    * a `JobReference` is returned as is;
    * a mapping is validated as a `JobReference` (``model_dump()`` output, for example);
    * a string whose first character is ``{`` is JSON object text of a `JobReference`
      (``model_dump_json()`` output) and is validated as one;
    * any other non-blank string is a job id, returned stripped of surrounding white space.

    Args:
        value: What the caller passed as ``job_reference``.

    Returns:
        The `JobReference`, or the job id string.

    Raises:
        InvalidInputError: (``argument="job_reference"``) ``value`` is ``None``, blank, of
            another type, malformed JSON, or not a valid `JobReference`.
    """
    if isinstance(value, JobReference):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _bad_reference(f"{_preview(value)} is not valid JSON ({exc})") from exc
    if isinstance(value, Mapping):
        try:
            return JobReference.model_validate(dict(value))
        except ValidationError as exc:
            raise _bad_reference(f"{_preview(value)} is not a valid job reference: {exc}") from exc
    if isinstance(value, str) and value.strip():
        return value.strip()
    got = "a blank string" if isinstance(value, str) else type(value).__name__
    raise _bad_reference(f"must be given, got {got}")


def _bad_reference(problem: str) -> InvalidInputError:
    return InvalidInputError(
        f"`job_reference` {problem}. Pass the JobReference returned by a submit task (or its "
        "model_dump()/model_dump_json()), or a job id string.",
        argument="job_reference",
    )


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class FetchOutput(TypedDict):
    """The dictionary returned by the run and fetch tasks.

    Keys:
        job_id: The Qiskit Runtime job id.
        backend_name: The backend the job ran on.
        primitive: ``"sampler"`` or ``"estimator"``.
        status: The final job status (``"DONE"``).
        result: The native ``PrimitiveResult``.
        metadata: JSON-compatible execution metadata: shots or precision, number of pubs,
            timings and usage where the service reports them.
    """

    job_id: str
    backend_name: str
    primitive: PrimitiveName
    status: JobStatus
    result: PrimitiveResult
    metadata: dict[str, object]


__all__ = [
    "TERMINAL_STATUSES",
    "CacheLocation",
    "ChannelName",
    "FetchOutput",
    "JobReference",
    "JobStatus",
    "PrimitiveApi",
    "PrimitiveName",
    "parse_job_reference",
]
