"""Jobs and sessions, in memory and optionally persisted to a state directory.

Every change of state goes through a named :class:`StateStore` method that takes
the store's lock, changes the record and persists it before returning. Readers get
copies of the records, so a caller cannot change state behind the store's back.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .codec import new_id
from .errors import ApiError
from .lifecycle import JobState, can_transition
from .usage_model import is_mock

logger = logging.getLogger(__name__)


@dataclass
class JobRecord:
    """One job as the emulator stores it."""

    id: str
    program: str
    backend: str
    params: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    status: JobState = JobState.QUEUED
    reason: str | None = None
    reason_code: int | None = None
    session_id: str | None = None
    private: bool = False
    cost: int | None = None
    created: float = field(default_factory=time.time)
    running: float | None = None
    finished: float | None = None
    expired: bool = False
    result_reads: int = 0
    estimated_seconds: float = 0.0
    """The service's usage estimate, set when the job is created (`usage_model`)."""
    result: str | None = field(default=None, repr=False)

    def usage_seconds(self) -> float:
        """Wall-clock seconds the job spent running (0 if it never ran or ran on a mock device)."""
        if self.running is None or is_mock(self.backend):
            return 0.0
        end = self.finished if self.finished is not None else time.time()
        return round(max(end - self.running, 0.0), 3)

    def num_pubs(self) -> int:
        """Number of pubs in the job's parameters."""
        pubs = self.params.get("pubs")
        return len(pubs) if isinstance(pubs, list) else 0

    def to_json(self) -> dict[str, Any]:
        """Return the persisted form (without the result text)."""
        data = asdict(self)
        data["status"] = self.status.value
        data.pop("result")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        """Rebuild a record persisted by :meth:`to_json`."""
        data = dict(data)
        data["status"] = JobState(data["status"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SessionRecord:
    """A session or batch."""

    id: str
    backend: str | None
    mode: str = "dedicated"
    max_ttl: int = 28800
    interactive_ttl: int = 60
    accepting_jobs: bool = True
    cancelled: bool = False
    created: float = field(default_factory=time.time)
    activated: float | None = None
    closed: float | None = None
    last_job_started: float | None = None
    last_job_completed: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionRecord:
        """Rebuild a persisted session."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class SessionView:
    """A copy of a session with the values derived from its jobs."""

    record: SessionRecord
    state: str
    """``open``, ``active``, ``inactive`` or ``closed``."""
    elapsed: float
    """QPU seconds used by the session's jobs."""


@dataclass(frozen=True)
class NewJob:
    """What ``POST /jobs`` asks for, validated by the route."""

    program: str
    backend: str
    params: dict[str, Any]
    tags: list[str]
    session_id: str | None
    private: bool
    cost: int | None
    estimated_seconds: float = 0.0


@dataclass(frozen=True)
class JobFilter:
    """The filters of ``GET /jobs``; ``None`` means "any"."""

    pending: bool | None = None
    tags: tuple[str, ...] = ()
    backend: str | None = None
    program: str | None = None
    session_id: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    descending: bool = True

    def matches(self, job: JobRecord) -> bool:
        """Whether ``job`` passes every filter."""
        checks = (
            self.pending is None or job.status.pending == self.pending,
            set(self.tags) <= set(job.tags),
            not self.backend or job.backend == self.backend,
            not self.program or job.program == self.program,
            not self.session_id or job.session_id == self.session_id,
            self.created_after is None or job.created >= self.created_after,
            self.created_before is None or job.created <= self.created_before,
        )
        return all(checks)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _not_found(kind: str, item_id: str) -> ApiError:
    return ApiError(404, f"{kind.capitalize()} not found: {item_id}", f"{kind}_not_found")


class _Files:
    """The state directory: ``jobs/``, ``results/`` and ``sessions/`` of JSON files.

    With ``root`` ``None`` every write is skipped and every read finds nothing.
    """

    SUBDIRS = ("jobs", "results", "sessions")

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def write(self, sub: str, item_id: str, text: str) -> None:
        if self.root is not None:
            atomic_write(self.root / sub / f"{item_id}.json", text)

    def read(self, sub: str, item_id: str) -> str | None:
        if self.root is None:
            return None
        path = self.root / sub / f"{item_id}.json"
        return path.read_text("utf-8") if path.exists() else None

    def remove(self, sub: str, item_id: str) -> None:
        if self.root is not None:
            (self.root / sub / f"{item_id}.json").unlink(missing_ok=True)

    def documents(self, sub: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Yield every readable document of ``sub`` (unreadable files are logged)."""
        if self.root is None:
            return
        for path in sorted((self.root / sub).glob("*.json")):
            try:
                yield path, json.loads(path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                logger.warning("Skipping unreadable state file %s: %s", path, exc)

    def clear(self) -> None:
        if self.root is not None:
            for sub in self.SUBDIRS:
                for path in (self.root / sub).glob("*.json"):
                    path.unlink(missing_ok=True)


class StateStore:
    """Thread-safe store of jobs and sessions.

    Args:
        state_dir: Directory for persistence; ``None`` keeps everything in memory.
            Layout: ``jobs/<id>.json`` (record and params), ``results/<id>.json``
            (RuntimeEncoder text) and ``sessions/<id>.json``.
    """

    def __init__(self, state_dir: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, JobRecord] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._files = _Files(self.state_dir)
        with self._lock:
            self._load()

    # persistence -----------------------------------------------------------------
    def _load(self) -> None:
        for path, data in self._files.documents("sessions"):
            try:
                session = SessionRecord.from_json(data)
            except TypeError as exc:
                logger.warning("Skipping malformed session file %s: %s", path, exc)
                continue
            self._sessions[session.id] = session
        for path, data in self._files.documents("jobs"):
            try:
                job = JobRecord.from_json(data)
            except (TypeError, KeyError, ValueError) as exc:
                logger.warning("Skipping malformed job file %s: %s", path, exc)
                continue
            if job.status.pending:
                # In-flight work is lost with the process: queue it again.
                job.status = JobState.QUEUED
                job.running = None
                self._save_job(job)
            self._jobs[job.id] = job

    def _save_job(self, job: JobRecord) -> None:
        self._files.write("jobs", job.id, json.dumps(job.to_json()))
        self._changed.notify_all()

    def _save_session(self, session: SessionRecord) -> None:
        self._files.write("sessions", session.id, json.dumps(asdict(session)))

    def _result_text(self, job: JobRecord) -> str | None:
        return job.result if job.result is not None else self._files.read("results", job.id)

    def _drop_result(self, job: JobRecord) -> None:
        job.result = None
        self._files.remove("results", job.id)

    # lookups (copies) ------------------------------------------------------------
    def _job(self, job_id: str) -> JobRecord:
        job = self._jobs.get(job_id)
        if job is None:
            raise _not_found("job", job_id)
        return job

    def _session(self, session_id: str) -> SessionRecord:
        session = self._sessions.get(session_id)
        if session is None:
            raise _not_found("session", session_id)
        return session

    def job(self, job_id: str) -> JobRecord:
        """Return a copy of a job.

        Raises:
            ApiError: 404 for an unknown id.
        """
        with self._lock:
            job = self._job(job_id)
            return replace(job, tags=list(job.tags))

    def jobs(self, where: JobFilter | None = None) -> list[JobRecord]:
        """Return copies of the jobs that match ``where``, newest first by default."""
        where = where or JobFilter()
        with self._lock:
            found = [replace(j, tags=list(j.tags)) for j in self._jobs.values() if where.matches(j)]
        found.sort(key=lambda j: j.created, reverse=where.descending)
        return found

    def has_result(self, job_id: str) -> bool:
        """Whether a job has a stored result text."""
        with self._lock:
            return self._result_text(self._job(job_id)) is not None

    def queue_length(self, backend: str) -> int:
        """Number of pending jobs on ``backend``."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.backend == backend and j.status.pending)

    def consumed_seconds(self) -> float:
        """QPU seconds used by every job."""
        with self._lock:
            return round(sum(j.usage_seconds() for j in self._jobs.values()), 3)

    def session(self, session_id: str) -> SessionView:
        """Return a copy of a session with its state and elapsed time.

        Raises:
            ApiError: 404 for an unknown id.
        """
        with self._lock:
            session = self._session(session_id)
            state = self._session_state(session)
            closed = session.closed
            if closed is None and _expired(session):
                closed = _expiry(session)
            return SessionView(replace(session, closed=closed), state, self._elapsed(session))

    def _session_jobs(self, session: SessionRecord) -> list[JobRecord]:
        return [j for j in self._jobs.values() if j.session_id == session.id]

    def _session_state(self, session: SessionRecord) -> str:
        jobs = self._session_jobs(session)
        pending = any(j.status.pending for j in jobs)
        if session.cancelled or session.closed is not None or _expired(session):
            return "closed"
        if not session.accepting_jobs and not pending:
            return "closed"
        if session.activated is None:
            return "open"
        last = session.last_job_completed or session.activated
        if pending or time.time() - last < session.interactive_ttl:
            return "active"
        return "inactive"

    def _elapsed(self, session: SessionRecord) -> float:
        return round(sum(j.usage_seconds() for j in self._session_jobs(session)), 3)

    # job changes -----------------------------------------------------------------
    def create_job(self, new: NewJob) -> JobRecord:
        """Queue a new job.

        Raises:
            ApiError: 400 if the session is unknown, closed or on another backend.
        """
        with self._lock:
            if new.session_id is not None:
                self._check_session_accepts(new.session_id, new.backend)
            job = JobRecord(
                id=self._new_id(),
                program=new.program,
                backend=new.backend,
                params=new.params,
                tags=list(new.tags),
                session_id=new.session_id,
                private=new.private,
                cost=new.cost,
                estimated_seconds=new.estimated_seconds,
            )
            self._jobs[job.id] = job
            self._save_job(job)
            return replace(job)

    def _check_session_accepts(self, session_id: str, backend: str) -> None:
        session = self._sessions.get(session_id)
        if session is None:
            raise ApiError(400, f"Session {session_id} does not exist")
        if self._session_state(session) == "closed" or not session.accepting_jobs:
            raise ApiError(400, f"Session {session_id} is closed")
        if session.backend and session.backend != backend:
            raise ApiError(400, f"Session {session_id} runs on {session.backend}")

    def _new_id(self) -> str:
        while True:
            candidate = new_id()
            if candidate not in self._jobs and candidate not in self._sessions:
                return candidate

    def update_job_tags(self, job_id: str, tags: list[str]) -> None:
        """Replace a job's tags."""
        with self._lock:
            job = self._job(job_id)
            job.tags = list(tags)
            self._save_job(job)

    def record_result_read(self, job_id: str) -> str:
        """Count one read of a finished job's result and return the text served.

        A failed job serves its failure text and a cancelled one a cancellation
        notice. A private job's result is deleted by its first read; later reads
        serve an empty text, which the client turns into ``None``.

        Raises:
            ApiError: 404 while the job is pending or after its result expired.
        """
        with self._lock:
            job = self._job(job_id)
            if job.expired:
                raise ApiError(404, f"Results for job {job.id} are no longer available")
            if job.status.pending:
                raise ApiError(404, f"Results for job {job.id} are not available yet")
            text = self._result_text(job)
            if text is None:
                text = "" if job.private else _final_text(job)
            job.result_reads += 1
            if job.private and job.status is JobState.COMPLETED:
                self._drop_result(job)
            self._save_job(job)
            return text

    def cancel_job(self, job_id: str, reason: str = "Cancelled by the user") -> None:
        """Cancel a pending job.

        Raises:
            ApiError: 409 once the job is final.
        """
        with self._lock:
            job = self._job(job_id)
            if not can_transition(job.status, JobState.CANCELLED):
                raise ApiError(
                    409,
                    f"Job {job.id} cannot be cancelled: it is already final",
                    "job_cannot_be_cancelled",
                )
            self._transition(job, JobState.CANCELLED, reason=reason)

    def delete_job(self, job_id: str) -> None:
        """Delete a job and its files (a pending job is cancelled first)."""
        with self._lock:
            job = self._job(job_id)
            if job.status.pending:
                self._transition(job, JobState.CANCELLED, reason="Deleted by the user")
            del self._jobs[job_id]
            self._files.remove("jobs", job_id)
            self._files.remove("results", job_id)
            self._changed.notify_all()

    def expire_result(self, job_id: str) -> JobRecord:
        """Purge a job's result so that ``/results`` answers 404; return a copy."""
        with self._lock:
            job = self._job(job_id)
            job.expired = True
            self._drop_result(job)
            self._save_job(job)
            return replace(job)

    def force_state(
        self, job_id: str, target: JobState, *, reason: str | None, reason_code: int | None
    ) -> JobRecord:
        """Move a job to any state (control API); return a copy.

        Raises:
            ApiError: 409 when forcing ``Completed`` on a job without a result.
        """
        with self._lock:
            job = self._job(job_id)
            result = None
            if target is JobState.FAILED:
                result = f"Error code {reason_code}; {reason or 'Job failed'}"
            elif target is JobState.COMPLETED and self._result_text(job) is None:
                raise ApiError(409, "A job without a result cannot be forced to Completed")
            self._transition(job, target, reason=reason, reason_code=reason_code, result=result)
            return replace(job)

    # the worker ------------------------------------------------------------------
    def start_next_job(self, queue_delay: float) -> tuple[JobRecord | None, float | None]:
        """Move the oldest queued job that waited ``queue_delay`` seconds to Running.

        Returns:
            A copy of the started job (or ``None``) and, when a queued job is not
            ready yet, the seconds until it is.
        """
        with self._lock:
            queued = [j for j in self._jobs.values() if j.status is JobState.QUEUED]
            if not queued:
                return None, None
            job = min(queued, key=lambda j: j.created)
            wait = job.created + queue_delay - time.time()
            if wait > 0:
                return None, wait
            self._transition(job, JobState.RUNNING)
            return replace(job), None

    def finish_job(
        self,
        job_id: str,
        target: JobState,
        *,
        result: str,
        reason: str | None = None,
        reason_code: int | None = None,
    ) -> bool:
        """Record the outcome of a run, unless the job left Running meanwhile.

        Returns:
            Whether the outcome was recorded (False if the job was cancelled,
            forced to another state or deleted while it ran).
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status is not JobState.RUNNING:
                return False
            self._transition(job, target, reason=reason, reason_code=reason_code, result=result)
            return True

    def wait_for_change(self, timeout: float) -> None:
        """Block until a job changes or ``timeout`` seconds pass."""
        with self._lock:
            self._changed.wait(timeout)

    def notify(self) -> None:
        """Wake up :meth:`wait_for_change` callers (e.g. after a configuration change)."""
        with self._lock:
            self._changed.notify_all()

    def _transition(
        self,
        job: JobRecord,
        target: JobState,
        *,
        reason: str | None = None,
        reason_code: int | None = None,
        result: str | None = None,
    ) -> None:
        now = time.time()
        job.status, job.reason, job.reason_code = target, reason, reason_code
        if target is JobState.QUEUED:
            job.running = job.finished = None
        elif target is JobState.RUNNING:
            job.running, job.finished = now, None
        else:
            if job.running is None and target is JobState.COMPLETED:
                job.running = now
            job.finished = now
        if result is not None:
            job.result = result
            self._files.write("results", job.id, result)
        self._touch_session(job, now)
        self._save_job(job)

    def _touch_session(self, job: JobRecord, now: float) -> None:
        session = self._sessions.get(job.session_id or "")
        if session is None:
            return
        if job.status is JobState.RUNNING:
            session.last_job_started = now
            session.activated = session.activated or now
        elif job.status.final:
            session.last_job_completed = now
        self._save_session(session)

    # session changes ---------------------------------------------------------------
    def open_session(self, backend: str | None, mode: str, max_ttl: int) -> SessionView:
        """Open a session (``dedicated``) or batch (``batch``)."""
        with self._lock:
            session = SessionRecord(id=self._new_id(), backend=backend, mode=mode, max_ttl=max_ttl)
            self._sessions[session.id] = session
            self._save_session(session)
        return self.session(session.id)

    def close_session(self, session_id: str, *, accepting_jobs: bool = False) -> None:
        """Set whether a session accepts new jobs; queued jobs still run."""
        with self._lock:
            session = self._session(session_id)
            session.accepting_jobs = accepting_jobs
            self._save_session(session)

    def cancel_session(self, session_id: str) -> None:
        """Close a session now and cancel its queued jobs."""
        with self._lock:
            session = self._session(session_id)
            for job in self._session_jobs(session):
                if job.status is JobState.QUEUED:
                    self._transition(job, JobState.CANCELLED, reason="Session cancelled")
            session.accepting_jobs = False
            session.cancelled = True
            session.closed = session.closed or time.time()
            self._save_session(session)

    # maintenance -----------------------------------------------------------------
    def job_count(self) -> int:
        """Number of jobs held."""
        with self._lock:
            return len(self._jobs)

    def reset(self) -> None:
        """Forget every job and session (and delete their files)."""
        with self._lock:
            self._jobs.clear()
            self._sessions.clear()
            self._files.clear()
            self._changed.notify_all()


def _final_text(job: JobRecord) -> str:
    """The ``/results`` text of a failed or cancelled job without a stored text."""
    if job.status is JobState.FAILED:
        return f"Error code {job.reason_code}; {job.reason or 'Job failed'}"
    if job.status is JobState.CANCELLED:
        # The client reads this text for jobs cancelled with a reason code (1305).
        return f"Job {job.id} was cancelled. {job.reason or ''}".strip()
    raise ApiError(404, f"Results for job {job.id} are not available")


def _expiry(session: SessionRecord) -> float | None:
    """When a session's ``max_ttl`` runs out: counted from its activation (first job run)."""
    return None if session.activated is None else session.activated + session.max_ttl


def _expired(session: SessionRecord) -> bool:
    expiry = _expiry(session)
    return expiry is not None and time.time() >= expiry
