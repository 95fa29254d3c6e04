"""Sampler/Estimator-shaped wrappers that route to the library's Prefect tasks.

`QCSCSamplerV2` and `QCSCEstimatorV2` keep runtime settings and default options, and choose
between simple mode (`run_sampler_task`/`run_estimator_task`: submit and wait in one task) and
robust mode (`submit_*_job_task`, then `fetch_qiskit_job_result_task`). They never reimplement a
primitive: the native ``SamplerV2``/``EstimatorV2`` run inside the tasks.

Calling convention: every method that talks to the service comes in two forms. The plain name
(``run``, ``run_and_fetch``, ``estimate``; ``result``, ``output``, ``status``, ``cancel`` on the
job) is for synchronous code (a ``def`` flow or a script) and returns the value. The name with an
``a`` in front (``arun``, ``arun_and_fetch``, ``aestimate``; ``aresult``, ``aoutput``,
``astatus``, ``acancel``) is a coroutine function for ``async`` code. Called inside a running
event loop, a plain name still returns a coroutine to await, as it did before the ``a`` forms
existed, with a `DeprecationWarning`: that will stop working, use the ``a`` form there.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, TypeVar, cast

from prefect.results import resolve_serializer
from prefect.utilities.asyncutils import run_coro_as_sync

from . import cache, digests
from ._logging import run_logger
from .blocks import QiskitRuntimeConfig, aresolve_runtime_config, check_runtime_choice
from .errors import InvalidInputError
from .estimate import estimate_estimator_usage_task, estimate_sampler_usage_task
from .fetch import cancel_job, fetch_qiskit_job_result_task, job_status
from .retry import qiskit_retry_delays, should_retry_qiskit_fetch_failure
from .submit import submit_estimator_job_task, submit_sampler_job_task
from .tasks import run_estimator_task, run_sampler_task
from .validation import (
    ARTIFACT_KEY,
    CACHE_EXPIRATION,
    CACHE_SCOPE,
    FLAG,
    OPTIONAL_SECONDS,
    PRECISION,
    REPEAT,
    SHOTS,
    Constraint,
    validated,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
    from datetime import timedelta
    from typing import Unpack

    from qiskit.primitives import PrimitiveResult

    from .digests import CacheScope
    from .jobs import FetchOutput, JobReference, JobStatus, PrimitiveName

T = TypeVar("T")

#: The default ``result_serializer`` of ``cache_result=True``.
DEFAULT_RESULT_SERIALIZER: Final = "compressed/pickle"


class RunArguments(TypedDict, total=False):
    """The keyword arguments `run`, `run_and_fetch` and `estimate` take besides shots/precision.

    Their meaning and defaults are documented on `QCSCSamplerV2.run`.
    """

    robust: bool
    cache_submit: bool
    cache_result: bool
    retry_fetch: bool
    cache_scope: Literal["flow", "global"]
    cache_expiration: timedelta | None
    artifact_key: str | None
    timeout: float | None
    options: object | None
    result_serializer: str
    repeat: int | str | None


def _sync(coroutine: Coroutine[Any, Any, T], method: str) -> T:
    """Run ``coroutine`` to its value: the synchronous form of a method.

    Inside a running event loop it cannot block, so it returns ``coroutine`` for the caller to
    await, as before the ``a`` forms existed, and warns: that use is deprecated.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_coro_as_sync(coroutine)
    warnings.warn(
        f"{method}() was called inside a running event loop and returned a coroutine to await; "
        f"this is deprecated and will stop working. In async code, use `await a{method}(...)`.",
        DeprecationWarning,
        stacklevel=3,
    )
    return cast("T", coroutine)


class QCSCPrimitiveJob:
    """A job-like handle returned by `QCSCSamplerV2.run` and `QCSCEstimatorV2.run`.

    It mirrors ``RuntimeJobV2``'s ``job_id()``, ``status()``, ``result()`` and ``cancel()``, and
    adds ``output()`` for the full dictionary of the fetch task; in async code use ``astatus()``,
    ``aresult()``, ``acancel()`` and ``aoutput()``. In robust mode the fetch happens on the first
    ``result()``/``output()`` call, through `fetch_qiskit_job_result_task` (with the cache and
    retry options chosen at ``run``); the output is then kept, so the service is asked for the
    result once.
    """

    def __init__(
        self,
        *,
        job_id: str,
        primitive: PrimitiveName,
        runtime_config: QiskitRuntimeConfig | None,
        runtime_block_name: str | None,
        job_reference: JobReference | None = None,
        fetch: Callable[[], Awaitable[FetchOutput]] | None = None,
        output: FetchOutput | None = None,
    ) -> None:
        self._job_id = job_id
        self._primitive = primitive
        self._runtime_config = runtime_config
        self._runtime_block_name = runtime_block_name
        self._job_reference = job_reference
        self._fetch = fetch
        self._output = output

    def __repr__(self) -> str:
        mode = "robust" if self._job_reference is not None else "simple"
        return f"<QCSCPrimitiveJob {self._primitive} {self._job_id} ({mode})>"

    def job_id(self) -> str:
        """Return the Qiskit Runtime job id."""
        return self._job_id

    @property
    def job_reference(self) -> JobReference | None:
        """The `JobReference` from the submit task (``None`` in simple mode)."""
        return self._job_reference

    @property
    def primitive(self) -> PrimitiveName:
        """``"sampler"`` or ``"estimator"``."""
        return self._primitive

    def output(self) -> FetchOutput:
        """Fetch (once) and return the full dictionary: result, metadata and job fields."""
        return _sync(self.aoutput(), "output")

    def result(self) -> PrimitiveResult:
        """Fetch (once) and return the native ``PrimitiveResult``."""
        return _sync(self.aresult(), "result")

    def status(self) -> JobStatus:
        """Return the job's current status in Qiskit Runtime's vocabulary."""
        return _sync(self.astatus(), "status")

    def cancel(self) -> bool:
        """Ask the service to cancel the job; return whether the request was accepted."""
        return _sync(self.acancel(), "cancel")

    async def aoutput(self) -> FetchOutput:
        """`output` for async code: ``output = await job.aoutput()``."""
        if self._output is None:
            assert self._fetch is not None
            self._output = await self._fetch()
        return self._output

    async def aresult(self) -> PrimitiveResult:
        """`result` for async code: ``result = await job.aresult()``."""
        return (await self.aoutput())["result"]

    async def _config(self) -> QiskitRuntimeConfig:
        return await aresolve_runtime_config(self._runtime_config, self._runtime_block_name)

    async def astatus(self) -> JobStatus:
        """`status` for async code: ``status = await job.astatus()``."""
        if self._output is not None:
            return self._output["status"]
        return await job_status(await self._config(), self._job_id, logger=run_logger())

    async def acancel(self) -> bool:
        """`cancel` for async code: ``accepted = await job.acancel()``."""
        if self._output is not None:
            return False
        return await cancel_job(await self._config(), self._job_id, logger=run_logger())


@dataclass(frozen=True)
class _RunSettings:
    """The checked settings of one wrapper run (everything but the pubs and shots/precision)."""

    robust: bool
    cache_submit: bool
    cache_result: bool
    retry_fetch: bool
    cache_scope: CacheScope
    cache_expiration: timedelta | None
    artifact_key: str | None
    timeout: float | None
    options: object | None
    result_serializer: str
    repeat: int | str | None = None


@validated(
    robust=FLAG,
    cache_submit=FLAG,
    cache_result=FLAG,
    retry_fetch=FLAG,
    cache_scope=CACHE_SCOPE,
    cache_expiration=CACHE_EXPIRATION,
    artifact_key=ARTIFACT_KEY,
    timeout=OPTIONAL_SECONDS,
    repeat=REPEAT,
)
def _run_settings(
    *,
    robust: bool,
    cache_submit: bool,
    cache_result: bool,
    retry_fetch: bool,
    cache_scope: CacheScope,
    cache_expiration: timedelta | None,
    artifact_key: str | None,
    timeout: float | None,
    options: object | None,
    result_serializer: str,
    repeat: int | str | None = None,
) -> _RunSettings:
    """Check a run's settings, alone and together, before anything is submitted.

    Everything the fetch step will use is checked here too: a value the fetch task rejects
    would otherwise fail only after a job was created.

    Raises:
        InvalidInputError: A setting is invalid, or needs ``robust=True``.
    """
    flags = {"cache_submit": cache_submit, "cache_result": cache_result, "retry_fetch": retry_fetch}
    if not robust and any(flags.values()):
        chosen = ", ".join(f"{name}=True" for name, on in flags.items() if on)
        raise InvalidInputError(
            f"{chosen} requires robust=True: caching and fetch retries operate on the split "
            "submit/fetch tasks. Drop the flag(s) or use robust mode.",
            argument="robust",
        )
    if not robust and timeout is not None:
        raise InvalidInputError(
            "`timeout` applies to the robust fetch; it requires robust=True.",
            argument="timeout",
        )
    if robust:
        _check_result_serializer(result_serializer)
    return _RunSettings(
        robust,
        cache_submit,
        cache_result,
        retry_fetch,
        cache_scope,
        cache_expiration,
        artifact_key,
        timeout,
        options,
        result_serializer,
        repeat,
    )


def _check_result_serializer(name: str) -> None:
    try:
        resolve_serializer(name)
    except Exception:
        raise InvalidInputError(
            "`result_serializer` must name a Prefect result serializer, for example "
            f"'compressed/pickle' or 'qiskit-runtime-json'; got {name!r}.",
            argument="result_serializer",
        ) from None


@dataclass(frozen=True)
class _Route:
    """What differs between the sampler and the estimator wrapper: names and tasks."""

    value_name: Literal["shots", "precision"]
    value: Constraint
    run_task: Any
    submit_task: Any
    estimate_task: Any
    digest: Callable[..., str]
    submit_cache_key: Callable[..., str]


_ROUTES: Final[dict[PrimitiveName, _Route]] = {
    "sampler": _Route(
        "shots",
        SHOTS,
        run_sampler_task,
        submit_sampler_job_task,
        estimate_sampler_usage_task,
        digests.build_qiskit_sampler_input_digest,
        cache.qiskit_sampler_submit_cache_key,
    ),
    "estimator": _Route(
        "precision",
        PRECISION,
        run_estimator_task,
        submit_estimator_job_task,
        estimate_estimator_usage_task,
        digests.build_qiskit_estimator_input_digest,
        cache.qiskit_estimator_submit_cache_key,
    ),
}


def _fetch_task(settings: _RunSettings) -> Any:
    """`fetch_qiskit_job_result_task`, with the cache and retry options ``settings`` ask for."""
    fetch_options: dict[str, Any] = {}
    if settings.cache_result:
        fetch_options.update(
            cache_key_fn=cache.qiskit_result_fetch_cache_key,
            persist_result=True,
            result_serializer=settings.result_serializer,
            cache_expiration=settings.cache_expiration,
        )
    if settings.retry_fetch:
        delays = qiskit_retry_delays()
        fetch_options.update(
            retries=len(delays),
            retry_delay_seconds=delays,
            retry_condition_fn=should_retry_qiskit_fetch_failure,
        )
    if not fetch_options:
        return fetch_qiskit_job_result_task
    return fetch_qiskit_job_result_task.with_options(**fetch_options)


class _QCSCPrimitive:
    """Shared routing of the two wrappers."""

    _primitive: PrimitiveName

    def __init__(
        self,
        *,
        runtime_config: QiskitRuntimeConfig | None = None,
        runtime_block_name: str | None = None,
        options: object | None = None,
    ) -> None:
        check_runtime_choice(runtime_config, runtime_block_name, who=type(self).__name__)
        self.runtime_config = runtime_config
        self.runtime_block_name = runtime_block_name
        self.options = options

    def __repr__(self) -> str:
        target = (
            f"runtime_block_name={self.runtime_block_name!r}"
            if self.runtime_block_name is not None
            else f"backend_name={self.runtime_config.backend_name!r}"  # type: ignore[union-attr]
        )
        return f"{type(self).__name__}({target})"

    def _config_kwargs(self) -> dict[str, Any]:
        return {
            "runtime_config": self.runtime_config,
            "runtime_block_name": self.runtime_block_name,
        }

    async def _arun(
        self,
        pubs: Sequence[object],
        value: float | None,
        settings: Mapping[str, Any],
        method: str = "run",
    ) -> QCSCPrimitiveJob:
        """Check the arguments, then run in simple mode or submit in robust mode."""
        route = _ROUTES[self._primitive]
        checked = _run_settings(**_run_defaults(settings, method))
        value = route.value.check(value, route.value_name)
        if checked.options is None:
            checked = replace(checked, options=self.options)
        if not checked.robust:
            return await self._run_simple(pubs, route, value, checked)
        reference = await self._robust_submit(pubs, route, value, checked)
        return QCSCPrimitiveJob(
            job_id=reference.job_id,
            primitive=self._primitive,
            job_reference=reference,
            fetch=self._fetch_later(reference, pubs, checked),
            **self._config_kwargs(),
        )

    async def _run_simple(
        self, pubs: Sequence[object], route: _Route, value: float | None, settings: _RunSettings
    ) -> QCSCPrimitiveJob:
        """Simple mode: one task submits, waits and returns the output."""
        output: FetchOutput = await route.run_task(
            pubs,
            **self._config_kwargs(),
            **{route.value_name: value},
            options=settings.options,
            artifact_key=settings.artifact_key,
            repeat=settings.repeat,
        )
        return QCSCPrimitiveJob(
            job_id=output["job_id"],
            primitive=self._primitive,
            output=output,
            **self._config_kwargs(),
        )

    async def _robust_submit(
        self, pubs: Sequence[object], route: _Route, value: float | None, settings: _RunSettings
    ) -> JobReference:
        """Robust mode, first step: the submit task, keyed by an input digest if asked."""
        submit = route.submit_task
        submit_kwargs: dict[str, Any] = {
            route.value_name: value,
            "options": settings.options,
            "repeat": settings.repeat,
        }
        if settings.cache_submit:
            config = await aresolve_runtime_config(self.runtime_config, self.runtime_block_name)
            submit_kwargs["input_digest"] = route.digest(
                pubs,
                backend_name=config.backend_name,
                cache_scope=settings.cache_scope,
                options=settings.options,
                channel=config.channel,
                instance=config.instance,
                **{route.value_name: value},
            )
            # The digest stays that of the inputs alone: the submit task folds ``repeat`` in
            # once, as it does for a digest a user builds.
            submit = submit.with_options(
                cache_key_fn=route.submit_cache_key,
                cache_expiration=settings.cache_expiration,
                persist_result=True,
            )
        reference: JobReference = await submit(pubs, **self._config_kwargs(), **submit_kwargs)
        return reference

    def _fetch_later(
        self, reference: JobReference, pubs: Sequence[object], settings: _RunSettings
    ) -> Callable[[], Awaitable[FetchOutput]]:
        """Robust mode, second step: the fetch the job handle runs on its first result()."""
        fetch = _fetch_task(settings)
        config_kwargs = self._config_kwargs()

        async def fetch_output() -> FetchOutput:
            output: FetchOutput = await fetch(
                **config_kwargs,
                job_reference=reference,
                pubs=pubs,
                artifact_key=settings.artifact_key,
                timeout=settings.timeout,
            )
            return output

        return fetch_output

    async def _arun_and_fetch(
        self, pubs: Sequence[object], value: float | None, settings: Mapping[str, Any]
    ) -> FetchOutput:
        job = await self._arun(pubs, value, settings, "run_and_fetch")
        return await job.aoutput()

    async def _aestimate(
        self, pubs: Sequence[object], value: float | None, settings: Mapping[str, Any]
    ) -> float:
        """Check ``run``'s arguments, then ask the service for the job's QPU-time estimate."""
        route = _ROUTES[self._primitive]
        checked = _run_settings(**_run_defaults(settings, "estimate"))
        seconds: float = await route.estimate_task(
            pubs,
            **self._config_kwargs(),
            **{route.value_name: route.value.check(value, route.value_name)},
            options=self.options if checked.options is None else checked.options,
            repeat=checked.repeat,
        )
        return seconds


class QCSCSamplerV2(_QCSCPrimitive):
    """A Sampler-shaped wrapper around the library's sampler tasks.

    Args:
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        options: Default native ``SamplerV2`` options (dict or ``SamplerOptions``).

    Example:
        ```python
        sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name="ibm_fez"))
        job = await sampler.arun(pubs, shots=100, cache_submit=True, retry_fetch=True)
        result = await job.aresult()
        ```
    """

    _primitive: PrimitiveName = "sampler"

    def run(
        self, pubs: Sequence[object], *, shots: int | None = None, **settings: Unpack[RunArguments]
    ) -> QCSCPrimitiveJob:
        """Submit the pubs and return a `QCSCPrimitiveJob` (synchronous code; async: `arun`).

        Args:
            pubs: Sampler pubs (ISA circuits, or ``(circuit, parameter_values[, shots])``).
            shots: Default shots per pub.
            **settings: Any of the following keywords.
            robust: Split submit/fetch tasks (default ``True``); ``False``: one
                `run_sampler_task`.
            cache_submit: Cache the job reference by an input digest built for you, so an
                identical rerun reuses the job (robust only; default ``False``).
            cache_result: Persist the fetch output with `qiskit_result_fetch_cache_key`, so a
                rerun restores it without asking the service (robust only; default ``False``).
            retry_fetch: Retry the fetch on transient failures (robust only), never submit
                (default ``False``).
            cache_scope: ``"flow"`` (the default: reruns of the same flow share submit cache
                entries) or ``"global"`` (any flow with the same inputs does).
            cache_expiration: How long cache entries stay valid; ``None`` (the default):
                forever.
            artifact_key: Key for the result artifacts (default ``None``: none).
            timeout: Seconds the fetch waits for the job (robust only); ``None`` (the default):
                no limit.
            options: Native options for this run, replacing the wrapper's defaults.
            result_serializer: Serializer for ``cache_result``: ``"compressed/pickle"`` (the
                default), or ``"qiskit-runtime-json"`` for results that load across qiskit
                versions.
            repeat: Run identical pubs again on purpose: each distinct value is its own job
                (exactly once per value; reused on rerun with ``cache_submit``). ``None`` (the
                default): no repeat (an identical rerun with ``cache_submit`` returns the same
                job).

        Returns:
            The job handle. Called inside a running event loop (deprecated): a coroutine that
            returns it, with a `DeprecationWarning`.

        Raises:
            InvalidInputError: A flag or argument is invalid (for example a cache flag with
                ``robust=False``, or an unknown keyword); nothing was submitted.
        """
        return _sync(self.arun(pubs, shots=shots, **settings), "run")

    async def arun(
        self, pubs: Sequence[object], *, shots: int | None = None, **settings: Unpack[RunArguments]
    ) -> QCSCPrimitiveJob:
        """`run` for async code: ``job = await sampler.arun(pubs, shots=100)``; same arguments."""
        return await self._arun(pubs, shots, settings)

    def run_and_fetch(
        self, pubs: Sequence[object], *, shots: int | None = None, **settings: Unpack[RunArguments]
    ) -> FetchOutput:
        """Submit, fetch and return the full dictionary (same arguments as `run`)."""
        return _sync(self.arun_and_fetch(pubs, shots=shots, **settings), "run_and_fetch")

    async def arun_and_fetch(
        self, pubs: Sequence[object], *, shots: int | None = None, **settings: Unpack[RunArguments]
    ) -> FetchOutput:
        """`run_and_fetch` for async code: ``output = await sampler.arun_and_fetch(pubs)``."""
        return await self._arun_and_fetch(pubs, shots, settings)

    def estimate(
        self, pubs: Sequence[object], *, shots: int | None = None, **settings: Unpack[RunArguments]
    ) -> float:
        """Estimate the QPU seconds of `run` with the same arguments, running nothing on the device.

        The job is posted with ``dry_run=True`` to the backend's ``mock_`` counterpart by
        `estimate_sampler_usage_task`; flags that only change how the result is fetched or
        cached (``robust``, ``cache_submit``, ...) are checked as `run` checks them. In async
        code use `aestimate`.

        Returns:
            The service's estimate in QPU seconds.

        Raises:
            BackendNotFoundError: The backend has no ``mock_`` counterpart (or the account may
                not use it).
            InvalidInputError: An argument is invalid; nothing was posted.

        Example:
            ```python
            seconds = await sampler.aestimate(pubs, shots=1000)
            ```
        """
        return _sync(self.aestimate(pubs, shots=shots, **settings), "estimate")

    async def aestimate(
        self, pubs: Sequence[object], *, shots: int | None = None, **settings: Unpack[RunArguments]
    ) -> float:
        """`estimate` for async code: ``seconds = await sampler.aestimate(pubs, shots=1000)``."""
        return await self._aestimate(pubs, shots, settings)


class QCSCEstimatorV2(_QCSCPrimitive):
    """An Estimator-shaped wrapper around the library's estimator tasks.

    Args:
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        options: Default native ``EstimatorV2`` options (dict or ``EstimatorOptions``).

    Example:
        ```python
        estimator = QCSCEstimatorV2(runtime_config=QiskitRuntimeConfig(backend_name="ibm_fez"))
        job = await estimator.arun(pubs, precision=0.2, cache_submit=True, retry_fetch=True)
        result = await job.aresult()
        ```
    """

    _primitive: PrimitiveName = "estimator"

    def run(
        self,
        pubs: Sequence[object],
        *,
        precision: float | None = None,
        **settings: Unpack[RunArguments],
    ) -> QCSCPrimitiveJob:
        """Submit the pubs and return a `QCSCPrimitiveJob` (synchronous code; async: `arun`).

        Same keywords as `QCSCSamplerV2.run`, with ``precision`` instead of ``shots``.

        Args:
            pubs: Estimator pubs ``(circuit, observables[, parameter_values[, precision]])``.
            precision: Default target precision.
            **settings: The keywords of `QCSCSamplerV2.run`: ``robust``, ``cache_submit``,
                ``cache_result``, ``retry_fetch``, ``cache_scope``, ``cache_expiration``,
                ``artifact_key``, ``timeout``, ``options``, ``result_serializer``, ``repeat``.

        Returns:
            The job handle. Called inside a running event loop (deprecated): a coroutine that
            returns it, with a `DeprecationWarning`.

        Raises:
            InvalidInputError: A flag or argument is invalid; nothing was submitted.
        """
        return _sync(self.arun(pubs, precision=precision, **settings), "run")

    async def arun(
        self,
        pubs: Sequence[object],
        *,
        precision: float | None = None,
        **settings: Unpack[RunArguments],
    ) -> QCSCPrimitiveJob:
        """`run` for async code: ``job = await estimator.arun(pubs, precision=0.1)``."""
        return await self._arun(pubs, precision, settings)

    def run_and_fetch(
        self,
        pubs: Sequence[object],
        *,
        precision: float | None = None,
        **settings: Unpack[RunArguments],
    ) -> FetchOutput:
        """Submit, fetch and return the full dictionary (the arguments of `run`)."""
        return _sync(self.arun_and_fetch(pubs, precision=precision, **settings), "run_and_fetch")

    async def arun_and_fetch(
        self,
        pubs: Sequence[object],
        *,
        precision: float | None = None,
        **settings: Unpack[RunArguments],
    ) -> FetchOutput:
        """`run_and_fetch` for async code: ``output = await estimator.arun_and_fetch(pubs)``."""
        return await self._arun_and_fetch(pubs, precision, settings)

    def estimate(
        self,
        pubs: Sequence[object],
        *,
        precision: float | None = None,
        **settings: Unpack[RunArguments],
    ) -> float:
        """Estimate the QPU seconds of `run` with the same arguments, running nothing on the device.

        Same as `QCSCSamplerV2.estimate`, with ``precision`` instead of ``shots``, through
        `estimate_estimator_usage_task`. In async code use `aestimate`.
        """
        return _sync(self.aestimate(pubs, precision=precision, **settings), "estimate")

    async def aestimate(
        self,
        pubs: Sequence[object],
        *,
        precision: float | None = None,
        **settings: Unpack[RunArguments],
    ) -> float:
        """`estimate` for async code: ``seconds = await estimator.aestimate(pubs)``."""
        return await self._aestimate(pubs, precision, settings)


_RUN_DEFAULTS: Final[dict[str, Any]] = {
    "robust": True,
    "cache_submit": False,
    "cache_result": False,
    "retry_fetch": False,
    "cache_scope": "flow",
    "cache_expiration": None,
    "artifact_key": None,
    "timeout": None,
    "options": None,
    "result_serializer": DEFAULT_RESULT_SERIALIZER,
    "repeat": None,
}


def _run_defaults(kwargs: Mapping[str, Any], method: str) -> dict[str, Any]:
    """``kwargs`` over `run`'s defaults; an unknown keyword is refused."""
    unknown = sorted(set(kwargs) - set(_RUN_DEFAULTS))
    if unknown:
        raise InvalidInputError(
            f"unknown argument(s) {', '.join(unknown)}; {method}() takes the pubs, shots or "
            f"precision, and these keywords: {', '.join(sorted(_RUN_DEFAULTS))}.",
            argument=unknown[0],
        )
    return {**_RUN_DEFAULTS, **kwargs}


__all__ = ["QCSCEstimatorV2", "QCSCPrimitiveJob", "QCSCSamplerV2"]
