"""The one validation path (validated/Constraint) and the one job-reference parser."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from qcsc_prefect.integrations.qiskit.errors import InvalidInputError
from qcsc_prefect.integrations.qiskit.jobs import JobReference, parse_job_reference
from qcsc_prefect.integrations.qiskit.validation import (
    ARTIFACT_KEY,
    CACHE_EXPIRATION,
    CACHE_SCOPE,
    FLAG,
    INPUT_DIGEST,
    OPTIONAL_SECONDS,
    PRECISION,
    SHOTS,
    check_wait_arguments,
    validated,
)


@validated(shots=SHOTS, robust=FLAG, artifact_key=ARTIFACT_KEY)
def run(
    pubs: list[Any], shots: int | None = None, *, robust: bool = True, artifact_key: Any = None
) -> Any:
    return pubs, shots, robust, artifact_key


@validated(precision=PRECISION, timeout=OPTIONAL_SECONDS)
async def arun(*, precision: float | None = None, timeout: float | None = None) -> Any:
    return precision, timeout


def test_valid_arguments_pass_and_numpy_numbers_become_builtins() -> None:
    pubs = [object()]
    got = run(pubs, np.int64(7), robust=False, artifact_key="ok-1")
    assert got == (pubs, 7, False, "ok-1") and type(got[1]) is int
    assert got[0] is pubs  # unconstrained arguments pass through untouched


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"shots": 0}, "shots"),
        ({"shots": 2.5}, "shots"),
        ({"shots": True}, "shots"),
        ({"robust": "yes"}, "robust"),
        ({"robust": 1}, "robust"),
        ({"artifact_key": "Bad Key"}, "artifact_key"),
    ],
)
def test_the_failing_argument_is_named(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        run([], **kwargs)
    assert caught.value.argument == argument
    assert str(caught.value).startswith(f"`{argument}` must be ")


def test_a_positional_argument_is_named_too() -> None:
    with pytest.raises(InvalidInputError) as caught:
        run([], -1)
    assert caught.value.argument == "shots"


async def test_async_functions_stay_async() -> None:
    assert await arun(precision=1, timeout=None) == (1.0, None)
    with pytest.raises(InvalidInputError) as caught:
        await arun(timeout=math.nan)
    assert caught.value.argument == "timeout"


def test_a_constraint_for_a_missing_parameter_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="no parameter"):
        validated(shots=SHOTS)(lambda pubs: pubs)


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        (CACHE_SCOPE, "global", "Flow"),
        (CACHE_EXPIRATION, timedelta(days=1), timedelta(0)),
        (CACHE_EXPIRATION, None, 3600),
        (INPUT_DIGEST, "a" * 64, "abc"),
        (INPUT_DIGEST, None, 123),
    ],
)
def test_constraints(constraint: Any, good: object, bad: object) -> None:
    assert constraint.check(good, "x") == good
    with pytest.raises(InvalidInputError, match="`x` must be"):
        constraint.check(bad, "x")


def test_wait_arguments() -> None:
    check_wait_arguments(None, 0.2, 30, 120)
    for position, name in enumerate(("timeout", "poll_interval", "max_poll_interval")):
        values: list[object] = [None, 0.2, 30, 120]
        values[position] = -1
        with pytest.raises(InvalidInputError) as caught:
            check_wait_arguments(*values)
        assert caught.value.argument == name
    with pytest.raises(InvalidInputError) as caught:
        check_wait_arguments(None, 0.2, 30, "5")
    assert caught.value.argument == "request_timeout"


# ------------------------------------------------------------------ the job-reference parser

REFERENCE = JobReference(
    job_id="d1", primitive="sampler", backend_name="ibm_fez", submitted_at=datetime.now(UTC)
)


@pytest.mark.parametrize(
    "form", [REFERENCE, REFERENCE.model_dump(), REFERENCE.model_dump(mode="json")]
)
def test_every_form_of_a_reference_parses_to_the_reference(form: object) -> None:
    assert parse_job_reference(form) == REFERENCE


def test_json_text_is_a_reference_and_other_text_a_job_id() -> None:
    assert parse_job_reference(REFERENCE.model_dump_json()) == REFERENCE
    assert parse_job_reference("  d1 \n") == "d1"
    assert parse_job_reference(" {not-json") == "{not-json"  # "{" must come first


@pytest.mark.parametrize("bad", [None, "", "  ", 42, ["d1"], {"job_id": "x"}, "{not json"])
def test_anything_else_is_rejected(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="job_reference") as caught:
        parse_job_reference(bad)
    assert caught.value.argument == "job_reference"
