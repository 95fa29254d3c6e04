"""Fault injection: scripted HTTP failures matched by method and path."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError

ACTION_KINDS = (
    "status",
    "reset",
    "delay",
    "create_then_status",
    "create_then_reset",
    "create_then_delay",
)


@dataclass
class Fault:
    """One scripted fault.

    ``path`` is a regular expression searched (``re.search``) in the request path
    relative to the runtime base: the path with a leading ``/api/v1`` or
    ``/experimental/api/v1`` removed and without the query string (e.g.
    ``/jobs/abc/results``). Paths of IAM (``/identity/token``), Global Search
    (``/gs/...``) and Global Catalog (``/gc/...``) are matched as they are.
    The control API (``/_emulator/...``) is never faulted.
    """

    id: int
    method: str
    path: str
    action: dict[str, Any]
    times: int
    hits: int = 0
    created: float = field(default_factory=time.time)

    @property
    def kind(self) -> str:
        """The action kind (one of :data:`ACTION_KINDS`)."""
        for kind in ACTION_KINDS:
            if kind in self.action:
                return kind
        raise AssertionError("validated at creation")

    def to_json(self) -> dict[str, Any]:
        """Return the fault as the control API lists it."""
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "action": self.action,
            "times": self.times,
            "remaining": self.times - self.hits,
            "hits": self.hits,
        }


def validate_action(action: Any) -> dict[str, Any]:
    """Check a fault action and return it.

    Raises:
        ApiError: 400 if the action is not one of the documented forms.
    """
    if not isinstance(action, dict):
        raise ApiError(400, "action must be an object")
    kinds = [k for k in ACTION_KINDS if k in action]
    if len(kinds) != 1:
        raise ApiError(400, f"action must have exactly one of {', '.join(ACTION_KINDS)}")
    kind = kinds[0]
    value = action[kind]
    if kind in ("status", "create_then_status"):
        if not isinstance(value, int) or not 100 <= value <= 599:
            raise ApiError(400, f"{kind} must be an HTTP status code")
    elif kind in ("reset", "create_then_reset"):
        if value is not True:
            raise ApiError(400, f"{kind} must be true")
    elif not isinstance(value, (int, float)) or value < 0:
        raise ApiError(400, f"{kind} must be a non-negative number of seconds")
    headers = action.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in headers.items()
    ):
        raise ApiError(400, "headers must map names to strings")
    return action


class FaultRegistry:
    """Active faults, consumed in FIFO order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, method: str, path: str, action: Any, times: int = 1) -> Fault:
        """Register a fault.

        Args:
            method: HTTP method, or ``*`` for any.
            path: Regular expression (see :class:`Fault`).
            action: One of the documented action objects.
            times: How many matching requests it applies to.

        Returns:
            The new fault.

        Raises:
            ApiError: 400 for an invalid fault.
        """
        if not isinstance(method, str) or not method:
            raise ApiError(400, "method must be a string")
        if not isinstance(path, str):
            raise ApiError(400, "path must be a regular expression string")
        try:
            re.compile(path)
        except re.error as exc:
            raise ApiError(400, f"invalid path regex: {exc}") from None
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ApiError(400, "times must be a positive integer")
        action = validate_action(action)
        with self._lock:
            fault = Fault(self._next_id, method.upper(), path, action, times)
            self._next_id += 1
            self._faults.append(fault)
        return fault

    def match(self, method: str, path: str) -> Fault | None:
        """Consume and return the first fault matching a request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.method not in ("*", method.upper()):
                    continue
                if not re.search(fault.path, path):
                    continue
                fault.hits += 1
                if fault.hits >= fault.times:
                    self._faults.remove(fault)
                return fault
        return None

    def list(self) -> list[dict[str, Any]]:
        """Return the active faults."""
        with self._lock:
            return [f.to_json() for f in self._faults]

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()
