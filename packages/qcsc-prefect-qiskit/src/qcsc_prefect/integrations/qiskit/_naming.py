"""Task-run names that say what a run does, e.g. ``submit sampler · ibm_fez``.

Prefect calls a ``task_run_name`` callable that takes ``parameters`` with the task's bound
arguments; these build the name from the configuration's backend (or the saved Block's name, which
is all a name can know without loading the Block) and, for the fetch, from the job reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .blocks import QiskitRuntimeConfig
from .jobs import JobReference


def _target(parameters: Mapping[str, Any]) -> str:
    config = parameters.get("runtime_config")
    if isinstance(config, QiskitRuntimeConfig):
        return config.backend_name
    block = parameters.get("runtime_block_name")
    return f"block {block}" if isinstance(block, str) and block else "?"


def primitive_run_name(action: str, primitive: str) -> Callable[..., str]:
    """A name callback for the submit and run tasks: ``<action> <primitive> · <backend>``."""

    def name(parameters: dict[str, Any]) -> str:
        return f"{action} {primitive} · {_target(parameters)}"

    name.__name__ = f"{action}_{primitive}_run_name"
    return name


def _fetch_run_name(parameters: dict[str, Any]) -> str:
    """The fetch task's name: ``fetch <primitive> · <backend>``, or ``fetch · <job id>``."""
    reference = parameters.get("job_reference")
    if isinstance(reference, JobReference):
        return f"fetch {reference.primitive} · {reference.backend_name}"
    if isinstance(reference, Mapping) and "primitive" in reference:
        return f"fetch {reference.get('primitive')} · {reference.get('backend_name', '?')}"
    return f"fetch · {str(reference)[:40]}"


#: The fetch task's name callback (typed loosely, as Prefect's protocol for it expects).
fetch_run_name: Callable[..., str] = _fetch_run_name

__all__ = ["fetch_run_name", "primitive_run_name"]
