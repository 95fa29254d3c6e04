"""Local emulator of the IBM Qiskit Runtime REST API.

``RuntimeEmulator`` is imported lazily so that importing the package (e.g. by the
pytest plugin) does not import qiskit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import EmulatorControl, EmulatorControlError
from .defaults import DEFAULT_API_KEY, DEFAULT_INSTANCE

if TYPE_CHECKING:
    from .server import RuntimeEmulator

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_INSTANCE",
    "EmulatorControl",
    "EmulatorControlError",
    "RuntimeEmulator",
]


def __getattr__(name: str) -> Any:
    if name == "RuntimeEmulator":
        from .server import RuntimeEmulator

        return RuntimeEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
