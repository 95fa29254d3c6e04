"""QPU usage as the service counts it: shots per job, the usage estimate, mock devices, the limit.

The service estimates a job's QPU time before it runs (``estimated_running_time_seconds`` on the
job) and counts the shots an estimator runs with twirling as ``num_randomizations *
shots_per_randomization``. The emulator models both from the job's parameters, read as posted
(JSON, no circuit decoding): ``estimate = run_delay + shots * SECONDS_PER_SHOT``. Measured usage
stays what it always was: the seconds the job spent Running.

A device's ``mock_`` counterpart (``ibm_fez`` → ``mock_fez``) is what the client's ``dry_run``
posts to: its jobs return simulated data and the estimate the real device's job would carry
(the same ``run_delay``, though a mock job does not wait it), and use none of the instance's time.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

#: Shots per sampler pub when neither the pub nor the options give any (the service's default).
DEFAULT_SHOTS: Final = 4096

#: Estimator precision when neither the pub nor the options give any (the service's default).
DEFAULT_PRECISION: Final = 0.015625

#: Estimated QPU seconds per shot, on top of the configured ``run_delay``.
SECONDS_PER_SHOT: Final = 1e-4

MOCK_PREFIX: Final = "mock_"


def mock_name(backend: str) -> str:
    """The ``mock_`` counterpart of a device, as the client names it (``ibm_fez``: ``mock_fez``)."""
    return re.sub(r"^[^_]+", "mock", backend)


def is_mock(backend: str) -> bool:
    """Whether ``backend`` is a ``mock_`` device (``dry_run`` jobs run there)."""
    return backend.startswith(MOCK_PREFIX)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _twirled_shots(base: int, twirling: object) -> int:
    """Shots with twirling: ``num_randomizations * shots_per_randomization`` when set."""
    if not isinstance(twirling, dict):
        return base
    randomizations = _number(twirling.get("num_randomizations"))
    if randomizations is None or randomizations <= 0:
        return base
    per_randomization = _number(twirling.get("shots_per_randomization"))
    if per_randomization is None or per_randomization <= 0:
        per_randomization = math.ceil(base / randomizations)
    return int(randomizations) * int(per_randomization)


def estimator_shots(precision: float | None, options: dict[str, Any]) -> int:
    """Shots of one estimator pub: ``ceil(1 / precision²)``, or what twirling sets.

    Args:
        precision: The pub's own precision, or ``None`` for the options' default.
        options: The job's estimator options.
    """
    if precision is None:
        precision = _number(options.get("default_precision"))
    if precision is None and (shots := _number(options.get("default_shots"))):
        precision = 1 / math.sqrt(shots)
    base = math.ceil(1 / (precision or DEFAULT_PRECISION) ** 2)
    return _twirled_shots(base, options.get("twirling"))


def _pub_items(pub: object) -> list[Any]:
    if isinstance(pub, dict) and pub.get("__type__") == "tuple":
        pub = pub.get("__value__")
    return list(pub) if isinstance(pub, list) else [pub]


def _sampler_pub_shots(pub: object, options: dict[str, Any]) -> int:
    items = _pub_items(pub)
    shots = _number(items[2]) if len(items) >= 3 else None
    default = _number(options.get("default_shots")) or DEFAULT_SHOTS
    return int(shots if shots is not None else default)


def _estimator_pub_shots(pub: object, options: dict[str, Any]) -> int:
    items = _pub_items(pub)
    precision = _number(items[3]) if len(items) >= 4 else None
    return estimator_shots(precision, options)


def job_shots(program: str, params: dict[str, Any]) -> int:
    """Shots a ``sampler`` or ``estimator`` job runs as the service counts them (0 otherwise)."""
    pubs = params.get("pubs")
    options = params.get("options")
    options = options if isinstance(options, dict) else {}
    if not isinstance(pubs, list):
        return 0
    if program == "sampler":
        return sum(_sampler_pub_shots(pub, options) for pub in pubs)
    if program == "estimator":
        return sum(_estimator_pub_shots(pub, options) for pub in pubs)
    return 0


def estimate_seconds(program: str, params: dict[str, Any], run_delay: float) -> float:
    """The usage estimate the service returns on the job (``estimated_running_time_seconds``)."""
    return round(run_delay + job_shots(program, params) * SECONDS_PER_SHOT, 3)


def instance_usage(instance: str, consumed: float, limit: float | None) -> dict[str, Any]:
    """The ``GET /instances/usage`` document.

    Args:
        instance: The instance CRN.
        consumed: QPU seconds consumed (the configured start value plus the jobs' usage).
        limit: The instance's usage limit in seconds, or ``None`` for none.
    """
    doc: dict[str, Any] = {
        "instance_id": instance,
        "plan_id": "emulator",
        "usage_consumed_seconds": round(consumed, 3),
        "usage_limit_reached": limit is not None and consumed >= limit,
    }
    if limit is not None:
        doc["usage_limit_seconds"] = limit
    return doc
