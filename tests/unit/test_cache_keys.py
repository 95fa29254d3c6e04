"""Cache keys and idempotency tags: formats, accepted inputs, errors, and Prefect's handling."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prefect import flow, task
from prefect.context import TaskRunContext

from qcsc_prefect.integrations.qiskit.cache import (
    ESTIMATOR_SUBMIT_CACHE_POLICY,
    RESULT_FETCH_CACHE_POLICY,
    SAMPLER_SUBMIT_CACHE_POLICY,
    idempotency_tag,
    qiskit_estimator_submit_cache_key,
    qiskit_result_fetch_cache_key,
    qiskit_sampler_submit_cache_key,
    submit_identity_key,
)
from qcsc_prefect.integrations.qiskit.errors import InvalidInputError
from qcsc_prefect.integrations.qiskit.jobs import JobReference

SAFE_KEY = re.compile(r"[a-z0-9-]+")
DIGEST = "0123456789abcdef" * 4
CRN = "crn:v1:bluemix:public:quantum-computing:us-east:a/acct:inst::"


def reference(**changes: Any) -> JobReference:
    fields: dict[str, Any] = {
        "job_id": "dc2noi38di15fclre9ng",
        "primitive": "sampler",
        "backend_name": "ibm_fez",
        "instance": CRN,
        "input_digest": DIGEST,
        "submitted_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    return JobReference(**{**fields, **changes})


# ---------------------------------------------------------------------------------- submit


def test_submit_keys_have_the_documented_format() -> None:
    sampler = qiskit_sampler_submit_cache_key(None, {"input_digest": DIGEST, "pubs": object()})
    estimator = qiskit_estimator_submit_cache_key(None, {"input_digest": DIGEST})
    assert sampler == f"qcsc-qiskit-v1-sampler-submit-{DIGEST}"
    assert estimator == f"qcsc-qiskit-v1-estimator-submit-{DIGEST}"
    assert SAFE_KEY.fullmatch(sampler) and SAFE_KEY.fullmatch(estimator)
    assert sampler == submit_identity_key("sampler", DIGEST)


@given(digest=st.text("0123456789abcdef", min_size=64, max_size=64))
def test_submit_key_is_a_pure_function_of_the_digest(digest: str) -> None:
    key = qiskit_sampler_submit_cache_key(None, {"input_digest": digest})
    assert key.endswith(digest) and SAFE_KEY.fullmatch(key)


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"input_digest": None},
        {"input_digest": ""},
        {"input_digest": DIGEST.upper()},
        {"input_digest": DIGEST[:-1]},
        {"input_digest": 12},
        {"input_digest": DIGEST + "/x"},
    ],
)
def test_missing_or_invalid_digest_names_the_builder(parameters: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as sampler:
        qiskit_sampler_submit_cache_key(None, parameters)
    assert sampler.value.argument == "input_digest"
    assert "build_qiskit_sampler_input_digest" in str(sampler.value)
    with pytest.raises(InvalidInputError) as estimator:
        qiskit_estimator_submit_cache_key(None, parameters)
    assert "build_qiskit_estimator_input_digest" in str(estimator.value)


def test_submit_identity_key_validates() -> None:
    with pytest.raises(InvalidInputError):
        submit_identity_key("sampler", "nope")
    with pytest.raises(InvalidInputError):
        submit_identity_key("executor", DIGEST)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------- fetch


def test_fetch_key_is_the_same_for_every_form_of_the_reference() -> None:
    ref = reference()
    forms = [ref, ref.model_dump(), ref.model_dump(mode="json"), ref.model_dump_json()]
    keys = {qiskit_result_fetch_cache_key(None, {"job_reference": form}) for form in forms}
    assert len(keys) == 1
    (key,) = keys
    assert re.fullmatch(r"qcsc-qiskit-v1-fetch-dc2noi38di15fclre9ng-[0-9a-f]{12}", key)
    assert "crn" not in key


def test_fetch_key_depends_on_job_id_and_instance_only() -> None:
    def key(ref: Any) -> str:
        return qiskit_result_fetch_cache_key(None, {"job_reference": ref})

    base = key(reference())
    assert key(reference(backend_name="ibm_torino", primitive="estimator")) == base
    assert key(reference(input_digest=None, reused=True)) == base
    assert key(reference(job_id="dc2noi38di15fclre9nh")) != base
    assert key(reference(instance="crn:other")) != base
    assert key(reference(instance=None)) == "qcsc-qiskit-v1-fetch-dc2noi38di15fclre9ng-noinstance"
    assert key("dc2noi38di15fclre9ng") == key(reference(instance=None))


@given(job_id=st.text(min_size=1, max_size=100).filter(lambda s: s.strip() and s[0] != "{"))
def test_any_job_id_gives_a_safe_key(job_id: str) -> None:
    key = qiskit_result_fetch_cache_key(None, {"job_reference": job_id})
    assert SAFE_KEY.fullmatch(key) and len(key) <= 120


def test_unsafe_job_ids_are_hashed_not_merged() -> None:
    upper = qiskit_result_fetch_cache_key(None, {"job_reference": "ABC"})
    lower = qiskit_result_fetch_cache_key(None, {"job_reference": "abc"})
    assert upper != lower and SAFE_KEY.fullmatch(upper)


@pytest.mark.parametrize(
    "job_reference", [None, "", "   ", 42, {"job_id": "x"}, "{not json", ["dc2noi38di15fclre9ng"]]
)
def test_bad_job_reference_is_rejected(job_reference: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        qiskit_result_fetch_cache_key(None, {"job_reference": job_reference})
    assert caught.value.argument == "job_reference"


# -------------------------------------------------------------------------- idempotency tag


def test_idempotency_tag_is_short_stable_and_secret_free() -> None:
    key = submit_identity_key("sampler", DIGEST)
    tag = idempotency_tag("sampler-submit", key)
    assert tag == idempotency_tag("sampler-submit", key)
    assert re.fullmatch(r"qcsc-idem-v1-sampler-submit-[0-9a-f]{40}", tag)
    assert tag != idempotency_tag("estimator-submit", key)
    assert tag != idempotency_tag("sampler-submit", key + "0")
    secret_key = f"{key}-{CRN}"
    assert "crn" not in idempotency_tag("sampler-submit", secret_key)


@pytest.mark.parametrize(("kind", "key"), [("", "k"), ("Sampler", "k"), ("a:b", "k"), ("s", "")])
def test_idempotency_tag_validates(kind: str, key: str) -> None:
    with pytest.raises(InvalidInputError):
        idempotency_tag(kind, key)


def test_policies_compute_the_same_keys() -> None:
    ctx: Any = None
    assert SAMPLER_SUBMIT_CACHE_POLICY.compute_key(ctx, {"input_digest": DIGEST}, {}) == (
        qiskit_sampler_submit_cache_key(None, {"input_digest": DIGEST})
    )
    assert ESTIMATOR_SUBMIT_CACHE_POLICY.compute_key(ctx, {"input_digest": DIGEST}, {}) == (
        qiskit_estimator_submit_cache_key(None, {"input_digest": DIGEST})
    )
    assert RESULT_FETCH_CACHE_POLICY.compute_key(ctx, {"job_reference": "j1"}, {}) == (
        qiskit_result_fetch_cache_key(None, {"job_reference": "j1"})
    )


# ------------------------------------------------------------- Prefect 3.8.8, observed behaviour
# These run real tasks in a flow; they use the session-wide Prefect test harness of
# tests/conftest.py (ephemeral mode otherwise).

_BODY_RUNS: list[str] = []


@task(cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True)
def _keyed_submit(input_digest: str | None, marker: str) -> str:
    _BODY_RUNS.append(marker)
    assert TaskRunContext.get() is not None
    return marker


@flow
def _submit_twice(input_digest: str | None, marker: str) -> list[str]:
    first = _keyed_submit(input_digest, marker, return_state=True)
    second = _keyed_submit(input_digest, marker, return_state=True)
    return [first.name, second.name]


def test_prefect_caches_by_the_digest_key() -> None:
    marker = uuid.uuid4().hex
    digest = (marker * 2)[:64]
    assert _submit_twice(digest, marker) == ["Completed", "Cached"]
    assert _BODY_RUNS.count(marker) == 1


def test_prefect_runs_the_body_uncached_when_the_key_function_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Observed Prefect 3.8.8 behaviour: the InvalidInputError is logged ("Error encountered
    # when computing cache key - result will not be persisted.") and the body runs every time.
    marker = uuid.uuid4().hex
    assert _submit_twice(None, marker) == ["Completed", "Completed"]
    assert _BODY_RUNS.count(marker) == 2
    assert "Error encountered when computing cache key" in caplog.text
    assert "build_qiskit_sampler_input_digest" in caplog.text
