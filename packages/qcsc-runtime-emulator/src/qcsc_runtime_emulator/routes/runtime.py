"""Qiskit Runtime v1 endpoints (paths relative to ``/api/v1``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lifecycle import JobState
from ..state import JobRecord, SessionRecord
from ..wire import job_metrics, job_to_wire, parse_time, session_to_wire
from . import Request, Response, Router

if TYPE_CHECKING:
    from ..server import EmulatorApp

router = Router()

PROGRAMS = ("sampler", "estimator")
SESSION_MODES = ("dedicated", "batch")


def _job(app: EmulatorApp, job_id: str) -> JobRecord:
    job = app.store.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"Job not found: {job_id}", "job_not_found")
    return job


def _backend(app: EmulatorApp, name: str) -> str:
    if name not in app.catalog:
        raise ApiError(404, f"Backend {name} not found", "backend_not_found")
    return name


def _queue_length(app: EmulatorApp, backend: str) -> int:
    with app.store.lock:
        return sum(1 for j in app.store.jobs.values() if j.backend == backend and j.status.pending)


# backends ------------------------------------------------------------------------
@router.add("GET", r"/backends")
def backends(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """List devices."""
    devices = []
    for name in app.catalog.names():
        n = app.catalog.num_qubits(name)
        devices.append(
            {
                "name": name,
                "class": "heron" if n > 100 else "falcon",
                "status": {"name": "online", "reason": "available"},
                "queue_length": _queue_length(app, name),
                "qubits": n,
                "physical_qubits": n,
                "performance_metrics": {},
                "processor_type": app.catalog.configuration(name).get("processor_type", {}),
            }
        )
    return Response(200, {"devices": devices})


@router.add("GET", r"/backends/(?P<name>[^/]+)/configuration")
def configuration(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Device configuration (the fake provider's ``conf_*.json``)."""
    return Response(200, app.catalog.configuration(_backend(app, p["name"])))


@router.add("GET", r"/backends/(?P<name>[^/]+)/properties")
def properties(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Device properties (the fake provider's ``props_*.json``)."""
    return Response(200, app.catalog.properties(_backend(app, p["name"])))


@router.add("GET", r"/backends/(?P<name>[^/]+)/status")
def status(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Device status."""
    name = _backend(app, p["name"])
    return Response(
        200,
        {
            "state": True,
            "status": "active",
            "message": "available",
            "length_queue": _queue_length(app, name),
            "backend_version": str(app.catalog.configuration(name).get("backend_version", "1.0.0")),
        },
    )


@router.add("GET", r"/instances/usage")
def usage(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Instance usage (never limited)."""
    with app.store.lock:
        consumed = sum(j.usage_seconds() for j in app.store.jobs.values())
    return Response(
        200,
        {
            "instance_id": app.instance,
            "plan_id": "emulator",
            "usage_consumed_seconds": round(consumed, 3),
            "usage_limit_reached": False,
        },
    )


# jobs --------------------------------------------------------------------------
def _str_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{field} must be a list of strings")
    return list(value)


@router.add("POST", r"/jobs")
def create_job(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Submit a sampler or estimator job."""
    data = req.json_object()
    program = data.get("program_id")
    if not isinstance(program, str) or not program:
        raise ApiError(400, "program_id is required")
    if program not in PROGRAMS:
        raise ApiError(404, f"Program not found: {program}", "program_not_found")
    backend = data.get("backend")
    if not isinstance(backend, str) or not backend:
        raise ApiError(400, "backend is required")
    if backend not in app.catalog:
        raise ApiError(400, f"Backend {backend} is not available to this instance")
    params = data.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("pubs"), list):
        raise ApiError(400, "params.pubs must be a list")
    tags = _str_list(data.get("tags"), "tags")
    cost = data.get("cost")
    if cost is not None and (not isinstance(cost, int) or isinstance(cost, bool)):
        raise ApiError(400, "cost must be an integer number of seconds")
    if data.get("calibration_id") is not None:
        raise ApiError(404, f"Calibration {data['calibration_id']} not found")
    session_id = data.get("session_id")
    with app.store.lock:
        if session_id is not None:
            sess = app.store.sessions.get(str(session_id))
            if sess is None:
                raise ApiError(400, f"Session {session_id} does not exist")
            if app.store.session_state(sess) == "closed" or not sess.accepting_jobs:
                raise ApiError(400, f"Session {session_id} is closed")
            if sess.backend and sess.backend != backend:
                raise ApiError(400, f"Session {session_id} runs on {sess.backend}")
        job = JobRecord(
            id=app.store.new_job_id(),
            program=program,
            backend=backend,
            params=params,
            tags=tags,
            session_id=None if session_id is None else str(session_id),
            private=bool(data.get("private", False)),
            cost=cost,
        )
        app.store.add_job(job)
    app.executor.wake()
    return Response(
        200,
        {
            "id": job.id,
            "backend": job.backend,
            "session_id": job.session_id,
            "private": job.private,
        },
    )


def _bool_arg(req: Request, name: str) -> bool | None:
    value = req.arg(name)
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ApiError(400, f"{name} must be true or false")


def _int_arg(req: Request, name: str, default: int) -> int:
    value = req.arg(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if number < 0:
        raise ApiError(400, f"{name} must not be negative")
    return number


@router.add("GET", r"/jobs")
def list_jobs(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """List jobs with the filters the client sends."""
    limit = min(_int_arg(req, "limit", 200), 200)
    offset = _int_arg(req, "offset", 0)
    pending = _bool_arg(req, "pending")
    tags = req.query.get("tags", [])
    backend = req.arg("backend")
    program = req.arg("program")
    session_id = req.arg("session_id")
    after = req.arg("created_after")
    before = req.arg("created_before")
    after_ts = parse_time(after) if after else None
    before_ts = parse_time(before) if before else None
    sort = (req.arg("sort") or "DESC").upper()
    if sort not in ("ASC", "DESC"):
        raise ApiError(400, "sort must be ASC or DESC")
    exclude_params = _bool_arg(req, "exclude_params")
    with app.store.lock:
        jobs = []
        for job in app.store.jobs.values():
            if pending is not None and job.status.pending != pending:
                continue
            if tags and not set(tags) <= set(job.tags):
                continue
            if backend and job.backend != backend:
                continue
            if program and job.program != program:
                continue
            if session_id and job.session_id != session_id:
                continue
            if after_ts is not None and job.created < after_ts:
                continue
            if before_ts is not None and job.created > before_ts:
                continue
            jobs.append(job)
        jobs.sort(key=lambda j: j.created, reverse=sort == "DESC")
        page = jobs[offset : offset + limit]
        docs = [job_to_wire(j, exclude_params=exclude_params is not False) for j in page]
    return Response(200, {"jobs": docs, "count": len(jobs), "limit": limit, "offset": offset})


@router.add("GET", r"/jobs/(?P<job_id>[^/]+)")
def get_job(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """One job."""
    exclude = _bool_arg(req, "exclude_params")
    with app.store.lock:
        return Response(
            200, job_to_wire(_job(app, p["job_id"]), exclude_params=exclude is not False)
        )


@router.add("DELETE", r"/jobs/(?P<job_id>[^/]+)")
def delete_job(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Delete a job (a pending job is cancelled first)."""
    with app.store.lock:
        job = _job(app, p["job_id"])
        if job.status.pending:
            app.store.transition(job, JobState.CANCELLED)
        app.store.delete_job(job.id)
    return Response(204)


@router.add("GET", r"/jobs/(?P<job_id>[^/]+)/results")
def results(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """The job's RuntimeEncoder JSON result (or the failure text)."""
    with app.store.lock:
        job = _job(app, p["job_id"])
        if job.expired:
            raise ApiError(404, f"Results for job {job.id} are no longer available")
        if job.status.pending:
            raise ApiError(404, f"Results for job {job.id} are not available yet")
        text = app.store.load_result(job)
        if text is None:
            if job.status is JobState.FAILED:
                text = f"Error code {job.reason_code}; {job.reason or 'Job failed'}"
            elif job.status is JobState.CANCELLED:
                # The client reads this text for jobs cancelled with a reason code (1305).
                text = f"Job {job.id} was cancelled. {job.reason or ''}".strip()
            else:
                raise ApiError(404, f"Results for job {job.id} are not available")
        job.result_reads += 1
        if job.private and job.status is JobState.COMPLETED:
            # Results of private jobs can be read once.
            app.store.expire_result(job)
    return Response(200, text, content_type="application/json")


@router.add("POST", r"/jobs/(?P<job_id>[^/]+)/cancel")
def cancel_job(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Cancel a pending job; 409 once it is final."""
    with app.store.lock:
        job = _job(app, p["job_id"])
        if job.status.final:
            raise ApiError(
                409,
                f"Job {job.id} cannot be cancelled: it is already final",
                "job_cannot_be_cancelled",
            )
        app.store.transition(job, JobState.CANCELLED, reason="Cancelled by the user")
    app.executor.wake()
    return Response(204)


@router.add("GET", r"/jobs/(?P<job_id>[^/]+)/metrics")
def metrics(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Timestamps and usage."""
    with app.store.lock:
        return Response(200, job_metrics(_job(app, p["job_id"])))


@router.add("GET", r"/jobs/(?P<job_id>[^/]+)/logs")
def logs(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Plain-text job log."""
    with app.store.lock:
        job = _job(app, p["job_id"])
        lines = [f"Job {job.id} ({job.program} on {job.backend}): {job.status.value}"]
        if job.reason:
            lines.append(job.reason)
    return Response(200, "\n".join(lines) + "\n", content_type="text/plain")


@router.add("PUT", r"/jobs/(?P<job_id>[^/]+)/tags")
def update_tags(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Replace a job's tags."""
    data = req.json_object()
    tags = _str_list(data.get("tags"), "tags")
    with app.store.lock:
        job = _job(app, p["job_id"])
        job.tags = tags
        app.store.save_job(job)
    return Response(204)


# sessions ------------------------------------------------------------------------
def _session(app: EmulatorApp, session_id: str) -> SessionRecord:
    sess = app.store.sessions.get(session_id)
    if sess is None:
        raise ApiError(404, f"Session not found: {session_id}", "session_not_found")
    return sess


@router.add("POST", r"/sessions")
def create_session(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Open a session (``mode`` ``dedicated``) or batch (``mode`` ``batch``)."""
    data = req.json_object()
    mode = data.get("mode") or "dedicated"
    if mode not in SESSION_MODES:
        raise ApiError(400, f"mode must be one of {list(SESSION_MODES)}")
    backend = data.get("backend")
    if backend is not None and (not isinstance(backend, str) or backend not in app.catalog):
        raise ApiError(400, f"Backend {backend} is not available to this instance")
    max_ttl = data.get("max_ttl") or 28800
    if not isinstance(max_ttl, int) or isinstance(max_ttl, bool) or max_ttl <= 0:
        raise ApiError(400, "max_ttl must be a positive integer")
    with app.store.lock:
        sess = SessionRecord(id=app.store.new_job_id(), backend=backend, mode=mode, max_ttl=max_ttl)
        app.store.add_session(sess)
        doc = session_to_wire(sess, app.store.session_state(sess), 0.0)
    return Response(200, doc)


@router.add("GET", r"/sessions/(?P<session_id>[^/]+)")
def session_details(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Session details."""
    with app.store.lock:
        sess = _session(app, p["session_id"])
        state = app.store.session_state(sess)
        return Response(200, session_to_wire(sess, state, app.store.session_elapsed(sess)))


@router.add("PATCH", r"/sessions/(?P<session_id>[^/]+)")
def close_session(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Stop accepting jobs (``{"accepting_jobs": false}``); queued jobs still run."""
    data = req.json_object()
    accepting = data.get("accepting_jobs")
    if not isinstance(accepting, bool):
        raise ApiError(400, "accepting_jobs must be a boolean")
    with app.store.lock:
        sess = _session(app, p["session_id"])
        sess.accepting_jobs = accepting
        app.store.save_session(sess)
    return Response(204)


@router.add("DELETE", r"/sessions/(?P<session_id>[^/]+)/close")
def cancel_session(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Close a session now and cancel its queued jobs."""
    with app.store.lock:
        sess = _session(app, p["session_id"])
        for job in list(app.store.jobs.values()):
            if job.session_id == sess.id and job.status is JobState.QUEUED:
                app.store.transition(job, JobState.CANCELLED, reason="Session cancelled")
        sess.accepting_jobs = False
        sess.cancelled = True
        sess.closed = sess.closed or time.time()
        app.store.save_session(sess)
    app.executor.wake()
    return Response(204)
