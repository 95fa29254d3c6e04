"""Errors raised by route handlers, rendered in IBM Cloud's error body shape."""

from __future__ import annotations

import uuid
from typing import Any

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    500: "internal_error",
}


class ApiError(Exception):
    """An HTTP error answered by the emulator.

    Args:
        status: HTTP status code.
        message: Human-readable message.
        code: Machine-readable error code (defaults from the status).
        headers: Extra response headers.
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _DEFAULT_CODES.get(status, "error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Return the IBM Cloud shaped error body."""
        return cloud_error_body(self.status, self.message, self.code)


def cloud_error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """Build an error body like IBM Cloud APIs return it.

    Args:
        status: HTTP status code.
        message: Error message.
        code: Error code; derived from ``status`` when omitted.

    Returns:
        ``{"errors": [{"code", "message", "more_info"}], "trace", "status_code"}``.
    """
    return {
        "errors": [
            {
                "code": code or _DEFAULT_CODES.get(status, "error"),
                "message": message,
                "more_info": "https://cloud.ibm.com/apidocs/quantum-computing#error-handling",
            }
        ],
        "trace": uuid.uuid4().hex,
        "status_code": status,
    }


class IamError(ApiError):
    """An error of the emulated IAM token service (``BXNIM`` codes)."""

    def body(self) -> dict[str, Any]:
        """Return the IAM shaped error body."""
        return {
            "errorCode": self.code,
            "errorMessage": self.message,
            "context": {"requestId": uuid.uuid4().hex},
        }
