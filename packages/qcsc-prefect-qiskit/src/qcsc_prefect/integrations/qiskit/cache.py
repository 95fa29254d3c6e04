"""Prefect cache keys and idempotency tags for the robust submit/fetch tasks.

Each key function is tiny and reads exactly one parameter; none of them serializes pubs,
circuits, backends, services or jobs. Every key uses only ``[a-z0-9-]`` because Prefect uses a
key-function key verbatim as the result file name (and lock file name).

Key formats (``v1`` is :data:`CACHE_KEY_VERSION`):

* submit: ``qcsc-qiskit-v1-sampler-submit-<input digest>`` and
  ``qcsc-qiskit-v1-estimator-submit-<input digest>`` (digest: 64 hex, from
  :func:`~qcsc_prefect.integrations.qiskit.digests.build_qiskit_sampler_input_digest` or
  :func:`~qcsc_prefect.integrations.qiskit.digests.build_qiskit_estimator_input_digest`);
* fetch: ``qcsc-qiskit-v1-fetch-<job id>-<instance>``, where ``<instance>`` is the first 12 hex
  of the SHA-256 of the instance (CRN), or ``noinstance``. Job ids outside ``[a-z0-9-]`` (or
  longer than 64 characters) are replaced by ``h`` + 32 hex of their SHA-256.

The submit step tags each Runtime job with :func:`idempotency_tag` (kind
``"<primitive>-submit"``) of the submission's identity: the input digest when the submission has
one, else an identity of the flow run and its inputs (``submit.py``). A crash between the POST
and the cache write is then reconciled by looking the tag up.

This module holds the keys only. Where the entries are stored, and how the entry of a job that
can never give a result is invalidated, is the private `_cache_store` module.

What Prefect (3.8 and 3.9) does when a key function raises: ``compute_transaction_key``
(``prefect/task_engine.py``) catches the exception, logs ``Error encountered when computing cache
key - result will not be persisted.`` with the traceback, and runs the task body **without a
cache key** (no cache lookup, nothing persisted). Raising here therefore makes the problem loud
in the logs but does not stop the task; the submit task must itself refuse to submit without a
valid ``input_digest`` when a submit cache is requested.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Final

from prefect.cache_policies import CacheKeyFnPolicy

from .digests import is_input_digest, repeated_digest
from .errors import InvalidInputError
from .jobs import JobReference, parse_job_reference
from .validation import REPEAT

if TYPE_CHECKING:
    from collections.abc import Mapping

    from prefect.context import TaskRunContext

    from .jobs import PrimitiveName

#: Version segment of every key and tag. Bump it to orphan every existing cache entry.
CACHE_KEY_VERSION: Final = "v1"

#: Common prefix of every cache key this module produces.
CACHE_KEY_PREFIX: Final = f"qcsc-qiskit-{CACHE_KEY_VERSION}"

#: Prefix of the job tag that marks an idempotent submission.
IDEMPOTENCY_TAG_PREFIX: Final = "qcsc-idem"

_SAFE: Final = re.compile(r"[a-z0-9-]{1,64}")
_KIND: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def submit_identity_key(primitive: PrimitiveName, input_digest: str) -> str:
    """Return the identity of one submission: the submit cache key, lock name and tag source.

    Args:
        primitive: ``"sampler"`` or ``"estimator"``.
        input_digest: The digest built by ``build_qiskit_sampler_input_digest`` or
            ``build_qiskit_estimator_input_digest``.

    Returns:
        ``qcsc-qiskit-v1-<primitive>-submit-<input_digest>`` (only ``[a-z0-9-]``).

    Raises:
        InvalidInputError: ``input_digest`` is not a 64-hex digest or the primitive is unknown.
    """
    if primitive not in ("sampler", "estimator"):
        raise InvalidInputError(
            f"primitive must be 'sampler' or 'estimator', got {primitive!r}.", argument="primitive"
        )
    if not is_input_digest(input_digest):
        builder = f"build_qiskit_{primitive}_input_digest"
        raise InvalidInputError(
            f"input_digest must be the 64-character hex digest returned by {builder}(...), got "
            f"{_preview(input_digest)}. Build it with {builder}(pubs, backend_name=..., ...) and "
            "pass it to the submit task as input_digest=...",
            argument="input_digest",
        )
    return f"{CACHE_KEY_PREFIX}-{primitive}-submit-{input_digest}"


def idempotency_tag(kind: str, key: str) -> str:
    """Return the Runtime job tag that marks one idempotent submission.

    The tag is short (``qcsc-idem-v1-<kind>-`` plus 40 hex characters, only ``[a-z0-9-]``)
    and carries no secret: ``key`` is hashed, so an identity key that contains an instance
    name is safe.

    Args:
        kind: What is being made idempotent, e.g. ``"sampler-submit"`` (``[a-z0-9-]``, at most
            32 characters).
        key: The identity of the submission (for example its input digest).

    Returns:
        For example ``qcsc-idem-v1-sampler-submit-3f2a...`` (40 hex).

    Raises:
        InvalidInputError: ``kind`` or ``key`` is empty or malformed.
    """
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InvalidInputError(
            f"kind must match [a-z0-9-] (1-32 characters), got {kind!r}.", argument="kind"
        )
    if not isinstance(key, str) or not key:
        raise InvalidInputError("key must be a non-empty string.", argument="key")
    token = hashlib.sha256(f"{kind}\0{key}".encode()).hexdigest()[:40]
    return f"{IDEMPOTENCY_TAG_PREFIX}-{CACHE_KEY_VERSION}-{kind}-{token}"


def qiskit_sampler_submit_cache_key(
    context: TaskRunContext | None, parameters: Mapping[str, Any]
) -> str:
    """Prefect ``cache_key_fn`` for ``submit_sampler_job_task``: by ``input_digest`` and ``repeat``.

    Args:
        context: The task run context Prefect passes (unused).
        parameters: The task's parameters; ``input_digest`` must hold the digest built by
            ``build_qiskit_sampler_input_digest``; a ``repeat`` other than ``None`` is folded
            in (`repeated_digest`).

    Returns:
        ``qcsc-qiskit-v1-sampler-submit-<digest>``.

    Raises:
        InvalidInputError: ``input_digest`` is missing or invalid (Prefect then logs the error
            and runs the task uncached; see the module docstring).
    """
    return submit_identity_key("sampler", _input_digest(parameters, "sampler"))


def qiskit_estimator_submit_cache_key(
    context: TaskRunContext | None, parameters: Mapping[str, Any]
) -> str:
    """``cache_key_fn`` for ``submit_estimator_job_task``: by ``input_digest`` and ``repeat``.

    The Estimator counterpart of `qiskit_sampler_submit_cache_key`, for digests built by
    ``build_qiskit_estimator_input_digest``.

    Args:
        context: Unused; Prefect passes the task run context.
        parameters: The submit task's parameters, of which it reads ``input_digest`` and
            ``repeat``.

    Returns:
        The key ``qcsc-qiskit-v1-estimator-submit-<digest>``.

    Raises:
        InvalidInputError: ``input_digest`` is missing or invalid; Prefect logs it and runs
            the task without a cache key (see the module docstring).
    """
    return submit_identity_key("estimator", _input_digest(parameters, "estimator"))


def qiskit_result_fetch_cache_key(
    context: TaskRunContext | None, parameters: Mapping[str, Any]
) -> str:
    """Prefect ``cache_key_fn`` for ``fetch_qiskit_job_result_task``: keyed by job id and instance.

    Args:
        context: The task run context Prefect passes (unused).
        parameters: The task's parameters; ``job_reference`` is read by
            `parse_job_reference` (a ``JobReference``, a
            dict or JSON text of one, or a job id string).

    Returns:
        ``qcsc-qiskit-v1-fetch-<job id>-<12 hex of the instance, or "noinstance">``.

    Raises:
        InvalidInputError: ``job_reference`` is missing or cannot be read.
    """
    job_id, instance = _job_identity(parameters.get("job_reference"))
    job_part = job_id if _SAFE.fullmatch(job_id) else "h" + _sha256(job_id)[:32]
    instance_part = "noinstance" if instance is None else _sha256(instance)[:12]
    return f"{CACHE_KEY_PREFIX}-fetch-{job_part}-{instance_part}"


#: Ready-made policies (``CacheKeyFnPolicy``) wrapping the key functions, for
#: ``.configure(isolation_level=..., lock_manager=..., key_storage=...)``.
SAMPLER_SUBMIT_CACHE_POLICY: Final = CacheKeyFnPolicy(cache_key_fn=qiskit_sampler_submit_cache_key)
ESTIMATOR_SUBMIT_CACHE_POLICY: Final = CacheKeyFnPolicy(
    cache_key_fn=qiskit_estimator_submit_cache_key
)
RESULT_FETCH_CACHE_POLICY: Final = CacheKeyFnPolicy(cache_key_fn=qiskit_result_fetch_cache_key)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _input_digest(parameters: Mapping[str, Any], primitive: PrimitiveName) -> str:
    digest = parameters.get("input_digest")
    if not is_input_digest(digest):
        builder = f"build_qiskit_{primitive}_input_digest"
        missing = "is missing" if digest is None else f"is invalid ({_preview(digest)})"
        raise InvalidInputError(
            f"the {primitive} submit cache key needs the input_digest parameter, which "
            f"{missing}. Build it with {builder}(pubs, backend_name=..., ...) and pass "
            "input_digest=... to the submit task.",
            argument="input_digest",
        )
    return repeated_digest(digest, REPEAT.check(parameters.get("repeat"), "repeat"))


def _job_identity(job_reference: object) -> tuple[str, str | None]:
    """Return ``(job_id, instance)`` from any form `parse_job_reference` accepts."""
    reference = parse_job_reference(job_reference)
    if isinstance(reference, JobReference):
        return reference.job_id, reference.instance
    return reference, None


__all__ = [
    "CACHE_KEY_PREFIX",
    "CACHE_KEY_VERSION",
    "ESTIMATOR_SUBMIT_CACHE_POLICY",
    "IDEMPOTENCY_TAG_PREFIX",
    "RESULT_FETCH_CACHE_POLICY",
    "SAMPLER_SUBMIT_CACHE_POLICY",
    "idempotency_tag",
    "qiskit_estimator_submit_cache_key",
    "qiskit_result_fetch_cache_key",
    "qiskit_sampler_submit_cache_key",
    "submit_identity_key",
]
