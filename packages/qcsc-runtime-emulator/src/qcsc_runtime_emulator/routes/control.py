"""The control API under ``/_emulator``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ApiError
from ..execution import NOISE_MODES
from ..state import JobFilter
from ..wire import job_summary, parse_status
from . import Request, Response, Router

if TYPE_CHECKING:
    from ..server import EmulatorApp

router = Router()


@router.add("GET", r"/health")
def health(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Liveness probe."""
    return Response(200, {"ok": True, "url": app.url})


@router.add("POST", r"/faults")
def add_fault(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Register a fault ``{method, path, action, times}``."""
    data = req.json_object()
    fault = app.faults.add(
        str(data.get("method", "*")),
        data.get("path", ""),
        data.get("action"),
        data.get("times", 1),
    )
    return Response(201, fault.to_json())


@router.add("GET", r"/faults")
def list_faults(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """List active faults."""
    return Response(200, {"faults": app.faults.list()})


@router.add("DELETE", r"/faults")
def clear_faults(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Remove every fault."""
    app.faults.clear()
    return Response(204)


@router.add("GET", r"/jobs")
def list_jobs(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Every job, oldest first."""
    jobs = app.store.jobs(JobFilter(descending=False))
    return Response(200, {"jobs": [job_summary(j) for j in jobs], "count": len(jobs)})


@router.add("POST", r"/jobs/(?P<job_id>[^/]+)/state")
def set_state(app: EmulatorApp, req: Request, params: dict[str, str]) -> Response:
    """Force a job's state ``{status, reason, reason_code}``."""
    data = req.json_object()
    target = parse_status(str(data.get("status", "")))
    reason = data.get("reason")
    reason_code = data.get("reason_code")
    if reason_code is not None and (
        not isinstance(reason_code, int) or isinstance(reason_code, bool)
    ):
        raise ApiError(400, "reason_code must be an integer")
    job = app.store.force_state(
        params["job_id"],
        target,
        reason=None if reason is None else str(reason),
        reason_code=reason_code,
    )
    return Response(200, job_summary(job))


@router.add("POST", r"/jobs/(?P<job_id>[^/]+)/expire")
def expire(app: EmulatorApp, req: Request, params: dict[str, str]) -> Response:
    """Purge a job's results: ``/results`` answers 404 afterwards."""
    return Response(200, job_summary(app.store.expire_result(params["job_id"])))


_SECONDS = frozenset(
    {"queue_delay", "run_delay", "latency", "usage_limit_seconds", "usage_consumed_seconds"}
)


@router.add("GET", r"/config")
def get_config(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Current configuration."""
    return Response(200, dict(app.config))


@router.add("POST", r"/config")
def set_config(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Update ``queue_delay``, ``run_delay``, ``latency``, ``noise``, ``paused`` and/or the usage.

    ``usage_limit_seconds`` sets the instance's limit and ``usage_consumed_seconds`` the seconds
    it had consumed before the emulator's own jobs.
    """
    data = req.json_object()
    unknown = set(data) - _SECONDS - {"noise", "paused"}
    if unknown:
        raise ApiError(400, f"Unknown configuration keys: {sorted(unknown)}")
    for key in sorted(_SECONDS):
        if key in data and data[key] is not None:
            value = data[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ApiError(400, f"{key} must be a non-negative number")
    if data.get("noise") is not None and data["noise"] not in NOISE_MODES:
        raise ApiError(400, f"noise must be one of {list(NOISE_MODES)}")
    if data.get("paused") is not None and not isinstance(data["paused"], bool):
        raise ApiError(400, "paused must be a boolean")
    for key, value in data.items():
        if value is not None:
            app.config[key] = float(value) if key in _SECONDS else value
    app.executor.wake()
    return Response(200, dict(app.config))


@router.add("GET", r"/log")
def get_log(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """The request log (bounded; oldest entries are dropped first)."""
    return Response(200, {"log": app.request_log()})


@router.add("DELETE", r"/log")
def clear_log(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Clear the request log."""
    app.clear_log()
    return Response(204)


@router.add("POST", r"/reset")
def reset(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Wipe jobs, sessions, faults and the log; restore the start configuration."""
    app.reset()
    return Response(204)
