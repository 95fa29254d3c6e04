"""Values that describe Qiskit Runtime jobs: status vocabulary, job references, task outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, TypeAlias, TypedDict

from pydantic import BaseModel, ConfigDict, Field
from qiskit.primitives import PrimitiveResult  # noqa: TC002  (a TypedDict field type, needed at runtime)

#: The primitives the library can run.
PrimitiveName: TypeAlias = Literal["sampler", "estimator"]

#: Qiskit Runtime's own job status vocabulary (``RuntimeJobV2.status()``).
JobStatus: TypeAlias = Literal["INITIALIZING", "QUEUED", "RUNNING", "CANCELLED", "DONE", "ERROR"]

#: Statuses after which a job never changes again.
TERMINAL_STATUSES: Final[frozenset[str]] = frozenset({"DONE", "ERROR", "CANCELLED"})

#: Channels a :class:`~qcsc_prefect.integrations.qiskit.QiskitRuntimeConfig` may name.
ChannelName: TypeAlias = Literal["ibm_quantum_platform", "ibm_cloud", "local"]


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
    session_id: str | None = Field(default=None, description="The session or batch id, if any.")
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
    "ChannelName",
    "FetchOutput",
    "JobReference",
    "JobStatus",
    "PrimitiveName",
]
