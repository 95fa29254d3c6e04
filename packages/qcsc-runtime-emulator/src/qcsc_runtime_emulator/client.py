"""A small stdlib HTTP client of the emulator's control API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from .defaults import CONTROL_PREFIX


class EmulatorControlError(RuntimeError):
    """The control API answered with an error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class EmulatorControl:
    """Script a running emulator over its control API (``/_emulator/...``).

    Args:
        base_url: The emulator's base URL, e.g. ``http://127.0.0.1:8765``.
        timeout: Seconds to wait for each call.
    """

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(
            f"{self.base_url}{CONTROL_PREFIX}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                text = resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise EmulatorControlError(exc.code, exc.read().decode("utf-8", "replace")) from None
        return json.loads(text) if text else None

    # faults ----------------------------------------------------------------------
    def add_fault(
        self,
        method: str = "*",
        path: str = ".*",
        action: dict[str, Any] | None = None,
        times: int = 1,
    ) -> dict[str, Any]:
        """Inject a fault.

        Args:
            method: HTTP method to match, or ``*``.
            path: Regex searched in the path relative to the runtime base
                (``/api/v1`` or ``/experimental/api/v1`` stripped, no query string),
                e.g. ``r"/jobs$"``; IAM/search/catalog paths are matched unchanged
                (``/identity/token``, ``/gs/...``, ``/gc/...``).
            action: ``{"status": code, "headers": {...}, "body": ...}``,
                ``{"reset": True}``, ``{"delay": seconds}``,
                ``{"create_then_status": code}``, ``{"create_then_reset": True}`` or
                ``{"create_then_delay": seconds}``.
            times: Number of matching requests the fault applies to.

        Returns:
            The registered fault.
        """
        body = {
            "method": method,
            "path": path,
            "action": {"status": 500} if action is None else action,
            "times": times,
        }
        result: dict[str, Any] = self._call("POST", "/faults", body)
        return result

    def faults(self) -> list[dict[str, Any]]:
        """Active faults."""
        result: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return result

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._call("DELETE", "/faults")

    # jobs ------------------------------------------------------------------------
    def jobs(self) -> list[dict[str, Any]]:
        """Every job (id, program, backend, tags, status, session_id, created, ...)."""
        result: list[dict[str, Any]] = self._call("GET", "/jobs")["jobs"]
        return result

    def job_count(self) -> int:
        """Number of jobs the emulator holds."""
        return len(self.jobs())

    def set_job_state(
        self,
        job_id: str,
        status: str,
        reason: str | None = None,
        reason_code: int | None = None,
    ) -> dict[str, Any]:
        """Force a job's state.

        Args:
            job_id: The job.
            status: ``Queued``, ``Running``, ``Completed``, ``Failed`` or ``Cancelled``.
            reason: Reason text.
            reason_code: e.g. 1517 (failed) or 1305 (cancelled: ran too long).

        Returns:
            The job summary after the change.
        """
        body = {"status": status, "reason": reason, "reason_code": reason_code}
        result: dict[str, Any] = self._call("POST", f"/jobs/{job_id}/state", body)
        return result

    def expire_job(self, job_id: str) -> dict[str, Any]:
        """Purge a job's results (``/results`` answers 404 afterwards)."""
        result: dict[str, Any] = self._call("POST", f"/jobs/{job_id}/expire", {})
        return result

    # configuration -------------------------------------------------------------------
    def configure(
        self,
        queue_delay: float | None = None,
        noise: str | None = None,
        paused: bool | None = None,
        run_delay: float | None = None,
        latency: float | None = None,
        *,
        usage_limit_seconds: float | None = None,
        usage_consumed_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Change the configuration; ``None`` leaves a setting unchanged.

        Args:
            queue_delay: Seconds every job stays Queued at least.
            noise: ``none``, ``reduced`` or ``device``.
            paused: ``True`` holds every queued job.
            run_delay: Seconds every job stays Running at least.
            latency: Seconds added before answering each service request.
            usage_limit_seconds: The instance's usage limit (``GET /instances/usage``); queued
                jobs wait while the consumed seconds are at or above it. ``reset()`` removes it.
            usage_consumed_seconds: Seconds the instance had consumed before the emulator's own
                jobs (their usage is added to it).

        Returns:
            The full configuration after the change.
        """
        body = {
            k: v
            for k, v in {
                "queue_delay": queue_delay,
                "noise": noise,
                "paused": paused,
                "run_delay": run_delay,
                "latency": latency,
                "usage_limit_seconds": usage_limit_seconds,
                "usage_consumed_seconds": usage_consumed_seconds,
            }.items()
            if v is not None
        }
        result: dict[str, Any] = self._call("POST", "/config", body)
        return result

    def config(self) -> dict[str, Any]:
        """The current configuration."""
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def log(self) -> list[dict[str, Any]]:
        """The request log: method, path, route_path, status, time, duration_ms, ..."""
        result: list[dict[str, Any]] = self._call("GET", "/log")["log"]
        return result

    def clear_log(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "/log")

    def reset(self) -> None:
        """Wipe jobs, sessions, faults and the log; restore the initial configuration."""
        self._call("POST", "/reset", {})

    def health(self) -> bool:
        """Whether the emulator answers."""
        try:
            return bool(self._call("GET", "/health")["ok"])
        except (OSError, EmulatorControlError):
            return False
