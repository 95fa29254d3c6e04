"""Jobs and sessions, in memory and optionally persisted to a state directory."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .codec import new_id
from .lifecycle import JobState, can_transition

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
    result: str | None = field(default=None, repr=False)

    def usage_seconds(self) -> float:
        """Wall-clock seconds the job spent running (0 if it never ran)."""
        if self.running is None:
            return 0.0
        end = self.finished if self.finished is not None else time.time()
        return round(max(end - self.running, 0.0), 3)

    def num_pubs(self) -> int:
        """Number of pubs in the job's parameters."""
        pubs = self.params.get("pubs") if isinstance(self.params, dict) else None
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


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class StateStore:
    """Thread-safe store of jobs and sessions.

    Args:
        state_dir: Directory for persistence; ``None`` keeps everything in memory.
            Layout: ``jobs/<id>.json`` (record and params), ``results/<id>.json``
            (RuntimeEncoder text) and ``sessions/<id>.json``.
    """

    def __init__(self, state_dir: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.jobs: dict[str, JobRecord] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.state_dir = Path(state_dir) if state_dir is not None else None
        if self.state_dir is not None:
            self._load()

    # persistence -----------------------------------------------------------------
    def _load(self) -> None:
        assert self.state_dir is not None
        for path in sorted((self.state_dir / "sessions").glob("*.json")):
            try:
                sess = SessionRecord.from_json(json.loads(path.read_text("utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                logger.warning("Skipping unreadable session file %s: %s", path, exc)
                continue
            self.sessions[sess.id] = sess
        for path in sorted((self.state_dir / "jobs").glob("*.json")):
            try:
                job = JobRecord.from_json(json.loads(path.read_text("utf-8")))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                logger.warning("Skipping unreadable job file %s: %s", path, exc)
                continue
            if job.status.pending:
                # In-flight work is lost with the process: queue it again.
                job.status = JobState.QUEUED
                job.running = None
                self._persist_job(job)
            self.jobs[job.id] = job

    def load_result(self, job: JobRecord) -> str | None:
        """Return the job's result text, reading it from disk if needed."""
        if job.result is None and self.state_dir is not None:
            path = self.state_dir / "results" / f"{job.id}.json"
            if path.exists():
                return path.read_text("utf-8")
        return job.result

    def _persist_job(self, job: JobRecord) -> None:
        if self.state_dir is not None:
            atomic_write(self.state_dir / "jobs" / f"{job.id}.json", json.dumps(job.to_json()))

    def _persist_session(self, sess: SessionRecord) -> None:
        if self.state_dir is not None:
            atomic_write(self.state_dir / "sessions" / f"{sess.id}.json", json.dumps(asdict(sess)))

    def save_job(self, job: JobRecord) -> None:
        """Persist a job after a change and wake up waiters."""
        with self.lock:
            self._persist_job(job)
            self.changed.notify_all()

    def save_session(self, sess: SessionRecord) -> None:
        """Persist a session after a change."""
        with self.lock:
            self._persist_session(sess)

    # jobs ------------------------------------------------------------------------
    def add_job(self, job: JobRecord) -> JobRecord:
        """Insert a new job."""
        with self.lock:
            self.jobs[job.id] = job
            self.save_job(job)
        return job

    def new_job_id(self) -> str:
        """Return an id not used by any job or session."""
        with self.lock:
            while True:
                candidate = new_id()
                if candidate not in self.jobs and candidate not in self.sessions:
                    return candidate

    def transition(
        self,
        job: JobRecord,
        target: JobState,
        *,
        reason: str | None = None,
        reason_code: int | None = None,
        result: str | None = None,
        force: bool = False,
    ) -> bool:
        """Move a job to ``target`` if allowed.

        Args:
            job: The job.
            target: New state.
            reason: Failure or cancellation reason.
            reason_code: Numeric reason code (e.g. 1305, 1517).
            result: Result text to store (Completed, or the failure text).
            force: Allow any transition (control API).

        Returns:
            Whether the job changed.
        """
        with self.lock:
            if not force and not can_transition(job.status, target):
                return False
            now = time.time()
            job.status = target
            job.reason = reason
            job.reason_code = reason_code
            if target is JobState.QUEUED:
                job.running = None
                job.finished = None
            if target is JobState.RUNNING:
                job.running = now
                job.finished = None
                if job.session_id and job.session_id in self.sessions:
                    sess = self.sessions[job.session_id]
                    sess.last_job_started = now
                    sess.activated = sess.activated or now
                    self._persist_session(sess)
            if target.final:
                if job.running is None and target is JobState.COMPLETED:
                    job.running = now
                job.finished = now
                if job.session_id and job.session_id in self.sessions:
                    sess = self.sessions[job.session_id]
                    sess.last_job_completed = now
                    self._persist_session(sess)
            if result is not None:
                job.result = result
                if self.state_dir is not None:
                    atomic_write(self.state_dir / "results" / f"{job.id}.json", result)
            self.save_job(job)
            return True

    def delete_job(self, job_id: str) -> None:
        """Remove a job and its files."""
        with self.lock:
            self.jobs.pop(job_id, None)
            if self.state_dir is not None:
                for sub in ("jobs", "results"):
                    try:
                        (self.state_dir / sub / f"{job_id}.json").unlink()
                    except FileNotFoundError:
                        pass
            self.changed.notify_all()

    def expire_result(self, job: JobRecord) -> None:
        """Drop a job's result so that ``/results`` answers 404."""
        with self.lock:
            job.expired = True
            job.result = None
            if self.state_dir is not None:
                try:
                    (self.state_dir / "results" / f"{job.id}.json").unlink()
                except FileNotFoundError:
                    pass
            self.save_job(job)

    # sessions --------------------------------------------------------------------
    def add_session(self, sess: SessionRecord) -> SessionRecord:
        """Insert a new session."""
        with self.lock:
            self.sessions[sess.id] = sess
            self._persist_session(sess)
        return sess

    def session_state(self, sess: SessionRecord) -> str:
        """Compute a session's state (``open``/``active``/``inactive``/``closed``)."""
        with self.lock:
            jobs = [j for j in self.jobs.values() if j.session_id == sess.id]
            if sess.cancelled or sess.closed is not None:
                return "closed"
            pending = [j for j in jobs if j.status.pending]
            if not sess.accepting_jobs and not pending:
                return "closed"
            if sess.activated is None:
                return "open"
            if pending or any(j.status is JobState.RUNNING for j in jobs):
                return "active"
            last = sess.last_job_completed or sess.activated
            if time.time() - last < sess.interactive_ttl:
                return "active"
            return "inactive"

    def session_elapsed(self, sess: SessionRecord) -> float:
        """QPU seconds used by a session's jobs."""
        with self.lock:
            return round(
                sum(j.usage_seconds() for j in self.jobs.values() if j.session_id == sess.id), 3
            )

    # maintenance -----------------------------------------------------------------
    def reset(self) -> None:
        """Forget every job and session (and delete their files)."""
        with self.lock:
            self.jobs.clear()
            self.sessions.clear()
            if self.state_dir is not None:
                for sub in ("jobs", "results", "sessions"):
                    for path in (self.state_dir / sub).glob("*.json"):
                        path.unlink(missing_ok=True)
            self.changed.notify_all()
