"""The one logger helper: Prefect's run logger inside a flow or task run, else a module logger.

Log lines written inside a run belong in that run's Prefect logs; the same code also runs outside
any run (plain scripts, tests, a wrapper's ``status()`` called after the flow ended), where
Prefect's `get_run_logger` raises. `run_logger` picks the right one.
"""

from __future__ import annotations

import logging
from typing import Final, TypeAlias

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging import get_logger, get_run_logger

#: What the library's functions accept and pass on as a logger.
Logger: TypeAlias = logging.Logger | logging.LoggerAdapter[logging.Logger]

#: The logger used outside a flow or task run (a child of Prefect's ``prefect`` logger, so its
#: lines reach Prefect's console handler).
FALLBACK_LOGGER_NAME: Final = "qcsc_prefect.integrations.qiskit"


def run_logger() -> Logger:
    """Return the current flow or task run's logger, or the library's logger outside a run."""
    if FlowRunContext.get() is not None or TaskRunContext.get() is not None:
        return get_run_logger()
    return get_logger(FALLBACK_LOGGER_NAME)


__all__ = ["FALLBACK_LOGGER_NAME", "Logger", "run_logger"]
