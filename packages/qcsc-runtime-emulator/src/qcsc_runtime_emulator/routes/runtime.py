"""Qiskit Runtime v1 endpoints (paths relative to ``/api/v1``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..execution import PROGRAMS
from ..programs.executor import PROGRAM_ID as EXECUTOR_PROGRAM
from ..programs.executor import check_executor_params
from ..state import JobFilter, NewJob, SessionView
from ..usage_model import estimate_seconds, instance_usage, is_mock
from ..wire import job_metrics, job_to_wire, parse_time, session_to_wire
from . import Request, Response, Router

if TYPE_CHECKING:
    from ..server import EmulatorApp

router = Router()

SESSION_MODES = ("dedicated", "batch")
DEFAULT_MAX_TTL = 28800


def _backend(app: EmulatorApp, name: str) -> str:
    if name not in app.catalog:
        raise ApiError(404, f"Backend {name} not found", "backend_not_found")
    return name


def _check_calibration(app: EmulatorApp, backend: str, calibration_id: object) -> None:
    """Accept no calibration id or the device's current one; 404 for any other."""
    if calibration_id is not None and calibration_id != app.catalog.calibration_id(backend):
        raise ApiError(
            404, f"Calibration {calibration_id} not found for {backend}", "calibration_not_found"
        )


# backends ------------------------------------------------------------------------
@router.add("GET", r"/backends")
def backends(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """List devices."""
    devices = []
    for name in app.catalog.names(include_mocks=_bool_arg(req, "include_mocks") is True):
        n = app.catalog.num_qubits(name)
        devices.append(
            {
                "name": name,
                "class": "mock" if is_mock(name) else "heron" if n > 100 else "falcon",
                "status": {"name": "online", "reason": "available"},
                "queue_length": app.store.queue_length(name),
                "qubits": n,
                "physical_qubits": n,
                "calibration_id": app.catalog.calibration_id(name),
                "performance_metrics": {},
                "processor_type": app.catalog.configuration(name).get("processor_type", {}),
            }
        )
    return Response(200, {"devices": devices})


@router.add("GET", r"/backends/(?P<name>[^/]+)/configuration")
def configuration(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Device configuration (the fake provider's ``conf_*.json``)."""
    name = _backend(app, p["name"])
    _check_calibration(app, name, req.arg("calibration_id"))
    return Response(200, app.catalog.configuration(name))


@router.add("GET", r"/backends/(?P<name>[^/]+)/properties")
def properties(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Device properties (the fake provider's ``props_*.json``)."""
    name = _backend(app, p["name"])
    _check_calibration(app, name, req.arg("calibration_id"))
    return Response(200, app.catalog.properties(name))


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
            "length_queue": app.store.queue_length(name),
            "backend_version": str(app.catalog.configuration(name).get("backend_version", "1.0.0")),
        },
    )


@router.add("GET", r"/instances/usage")
def usage(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Instance usage: consumed seconds, and the limit once one is configured."""
    limit = app.config.get("usage_limit_seconds")
    consumed = app.executor.consumed_seconds()
    return Response(200, instance_usage(app.instance, consumed, limit))


# jobs --------------------------------------------------------------------------
def _str_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{field} must be a list of strings")
    return list(value)


def _new_job(app: EmulatorApp, data: dict[str, Any]) -> NewJob:
    """Validate a ``POST /jobs`` body."""
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
    if program == EXECUTOR_PROGRAM:
        params = check_executor_params(params)
    elif not isinstance(params, dict) or not isinstance(params.get("pubs"), list):
        raise ApiError(400, "params.pubs must be a list")
    cost = data.get("cost")
    if cost is not None and (not isinstance(cost, int) or isinstance(cost, bool)):
        raise ApiError(400, "cost must be an integer number of seconds")
    _check_calibration(app, backend, data.get("calibration_id"))
    session_id = data.get("session_id")
    return NewJob(
        program=program,
        backend=backend,
        params=params,
        tags=_str_list(data.get("tags"), "tags"),
        session_id=None if session_id is None else str(session_id),
        private=bool(data.get("private", False)),
        cost=cost,
        # A mock_ job (dry run) carries the estimate of the real device it stands in for.
        estimated_seconds=estimate_seconds(
            program, params, float(app.config.get("run_delay") or 0)
        ),
    )


@router.add("POST", r"/jobs")
def create_job(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Submit a sampler or estimator job."""
    job = app.store.create_job(_new_job(app, req.json_object()))
    body = {"id": job.id, "backend": job.backend, "session_id": job.session_id}
    return Response(200, {**body, "private": job.private})


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


def _time_arg(req: Request, name: str) -> float | None:
    value = req.arg(name)
    return parse_time(value) if value else None


@router.add("GET", r"/jobs")
def list_jobs(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """List jobs with the filters the client sends."""
    limit = min(_int_arg(req, "limit", 200), 200)
    offset = _int_arg(req, "offset", 0)
    sort = (req.arg("sort") or "DESC").upper()
    if sort not in ("ASC", "DESC"):
        raise ApiError(400, "sort must be ASC or DESC")
    where = JobFilter(
        pending=_bool_arg(req, "pending"),
        tags=tuple(req.query.get("tags", [])),
        backend=req.arg("backend"),
        program=req.arg("program"),
        session_id=req.arg("session_id"),
        created_after=_time_arg(req, "created_after"),
        created_before=_time_arg(req, "created_before"),
        descending=sort == "DESC",
    )
    jobs = app.store.jobs(where)
    exclude = _bool_arg(req, "exclude_params") is True
    docs = [job_to_wire(j, exclude_params=exclude) for j in jobs[offset : offset + limit]]
    return Response(200, {"jobs": docs, "count": len(jobs), "limit": limit, "offset": offset})


@router.add("GET", r"/jobs/(?P<job_id>[^/]+)")
def get_job(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """One job, with its ``params`` unless ``exclude_params=true`` or the job is private."""
    exclude = _bool_arg(req, "exclude_params") is True
    return Response(200, job_to_wire(app.store.job(p["job_id"]), exclude_params=exclude))


@router.add("GET", r"/jobs/(?P<job_id>[^/]+)/results")
def results(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """The job's RuntimeEncoder JSON result (or the failure text)."""
    text = app.store.record_result_read(p["job_id"])
    return Response(200, text, content_type="application/json")


@router.add("DELETE", r"/jobs/(?P<job_id>[^/]+)")
@router.add("POST", r"/jobs/(?P<job_id>[^/]+)/cancel")
def end_job(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """End a job: ``DELETE`` deletes it, ``POST .../cancel`` cancels it.

    Deleting a pending job cancels it first; cancelling a final job is a 409.
    """
    if req.method == "DELETE":
        app.store.delete_job(p["job_id"])
    else:
        app.store.cancel_job(p["job_id"])
    return Response(204)


@router.add("GET", r"/jobs/(?P<job_id>[^/]+)/metrics")
def metrics(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Timestamps and usage."""
    return Response(200, job_metrics(app.store.job(p["job_id"])))


@router.add("GET", r"/jobs/(?P<job_id>[^/]+)/logs")
def logs(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Plain-text job log."""
    job = app.store.job(p["job_id"])
    lines = [f"Job {job.id} ({job.program} on {job.backend}): {job.status.value}"]
    if job.reason:
        lines.append(job.reason)
    return Response(200, "\n".join(lines) + "\n", content_type="text/plain")


@router.add("PUT", r"/jobs/(?P<job_id>[^/]+)/tags")
def update_tags(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Replace a job's tags."""
    tags = _str_list(req.json_object().get("tags"), "tags")
    app.store.update_job_tags(p["job_id"], tags)
    return Response(204)


# sessions ------------------------------------------------------------------------
def _session_response(view: SessionView) -> Response:
    return Response(200, session_to_wire(view.record, view.state, view.elapsed))


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
    max_ttl = data.get("max_ttl") or DEFAULT_MAX_TTL
    if not isinstance(max_ttl, int) or isinstance(max_ttl, bool) or max_ttl <= 0:
        raise ApiError(400, "max_ttl must be a positive integer")
    return _session_response(app.store.open_session(backend, mode, max_ttl))


@router.add("GET", r"/sessions/(?P<session_id>[^/]+)")
def session_details(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Session details."""
    return _session_response(app.store.session(p["session_id"]))


@router.add("PATCH", r"/sessions/(?P<session_id>[^/]+)")
def close_session(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Stop accepting jobs (``{"accepting_jobs": false}``); queued jobs still run."""
    accepting = req.json_object().get("accepting_jobs")
    if not isinstance(accepting, bool):
        raise ApiError(400, "accepting_jobs must be a boolean")
    app.store.close_session(p["session_id"], accepting_jobs=accepting)
    return Response(204)


@router.add("DELETE", r"/sessions/(?P<session_id>[^/]+)/close")
def cancel_session(app: EmulatorApp, req: Request, p: dict[str, str]) -> Response:
    """Close a session now and cancel its queued jobs."""
    app.store.cancel_session(p["session_id"])
    return Response(204)
