"""Sampler/Estimator-shaped wrappers that route to the library's Prefect tasks.

`QCSCSamplerV2` and `QCSCEstimatorV2` keep runtime settings and default options, and choose
between simple mode (`run_sampler_task`/`run_estimator_task`: submit and wait in one task) and
robust mode (`submit_*_job_task`, then `fetch_qiskit_job_result_task`). They never reimplement a
primitive: the native ``SamplerV2``/``EstimatorV2`` run inside the tasks.

Calling convention: every method that talks to the service returns a coroutine when it is called
while an event loop is running (``await sampler.run(...)`` in an ``async`` flow, as in the spec),
and the value itself when no loop is running (a plain ``def`` flow or script), the way Prefect's
own async tasks behave when called from a sync flow.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from prefect.results import resolve_serializer
from prefect.utilities.asyncutils import run_coro_as_sync

from ._logging import run_logger
from .blocks import QiskitRuntimeConfig, aresolve_runtime_config, check_runtime_choice
from .cache import (
    qiskit_estimator_submit_cache_key,
    qiskit_result_fetch_cache_key,
    qiskit_sampler_submit_cache_key,
)
from .digests import build_qiskit_estimator_input_digest, build_qiskit_sampler_input_digest
from .errors import InvalidInputError
from .fetch import cancel_job, fetch_qiskit_job_result_task, job_status
from .retry import qiskit_retry_delays, should_retry_qiskit_fetch_failure
from .submit import submit_estimator_job_task, submit_sampler_job_task
from .tasks import run_estimator_task, run_sampler_task
from .validation import validate_artifact_key
from .waiting import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT,
    check_wait_arguments,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Sequence

    from qiskit.primitives import PrimitiveResult

    from .jobs import FetchOutput, JobReference, JobStatus, PrimitiveName

T = TypeVar("T")

#: The result serializer used by ``cache_result=True`` (the spec's choice).
DEFAULT_RESULT_SERIALIZER: Final = "compressed/pickle"

_CACHE_SCOPES: Final = ("flow", "global")


def _dual(coroutine: Coroutine[Any, Any, T]) -> T | Coroutine[Any, Any, T]:
    """Return ``coroutine`` inside a running event loop, else run it and return its value."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_coro_as_sync(coroutine)
    return coroutine


class QCSCPrimitiveJob:
    """A job-like handle returned by `QCSCSamplerV2.run` and `QCSCEstimatorV2.run`.

    It mirrors ``RuntimeJobV2``'s ``job_id()``, ``status()``, ``result()`` and ``cancel()``, and
    adds ``output()`` for the full dictionary of the fetch task. In robust mode the fetch happens
    on the first ``result()``/``output()`` call, through `fetch_qiskit_job_result_task` (with
    the cache and retry options chosen at ``run``); the output is then kept, so the service is
    asked for the result once.
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

    def output(self) -> FetchOutput | Coroutine[Any, Any, FetchOutput]:
        """Fetch (once) and return the full dictionary: result, metadata and job fields."""
        return _dual(self._aoutput())

    def result(self) -> PrimitiveResult | Coroutine[Any, Any, PrimitiveResult]:
        """Fetch (once) and return the native ``PrimitiveResult``."""
        return _dual(self._aresult())

    def status(self) -> JobStatus | Coroutine[Any, Any, JobStatus]:
        """Return the job's current status in Qiskit Runtime's vocabulary."""
        return _dual(self._astatus())

    def cancel(self) -> bool | Coroutine[Any, Any, bool]:
        """Ask the service to cancel the job; return whether the request was accepted."""
        return _dual(self._acancel())

    async def _aoutput(self) -> FetchOutput:
        if self._output is None:
            assert self._fetch is not None
            self._output = await self._fetch()
        return self._output

    async def _aresult(self) -> PrimitiveResult:
        return (await self._aoutput())["result"]

    async def _config(self) -> QiskitRuntimeConfig:
        return await aresolve_runtime_config(self._runtime_config, self._runtime_block_name)

    async def _astatus(self) -> JobStatus:
        if self._output is not None:
            return self._output["status"]
        return await job_status(await self._config(), self._job_id, logger=run_logger())

    async def _acancel(self) -> bool:
        if self._output is not None:
            return False
        return await cancel_job(await self._config(), self._job_id, logger=run_logger())


def _check_result_serializer(name: object) -> None:
    try:
        resolve_serializer(name)  # type: ignore[arg-type]
    except Exception:
        raise InvalidInputError(
            "`result_serializer` must name a Prefect result serializer, for example "
            f"'compressed/pickle' or 'qiskit-runtime-json'; got {name!r}.",
            argument="result_serializer",
        ) from None


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"`{name}` must be True or False; got {value!r}.", argument=name)
    return value


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

    async def _arun(
        self,
        pubs: Sequence[object],
        *,
        value: float | int | None,
        robust: bool,
        cache_submit: bool,
        cache_result: bool,
        retry_fetch: bool,
        cache_scope: str,
        cache_expiration: timedelta | None,
        artifact_key: str | None,
        timeout: float | None,
        options: object | None,
        result_serializer: str,
    ) -> QCSCPrimitiveJob:
        robust = _check_flag("robust", robust)
        flags = {
            "cache_submit": _check_flag("cache_submit", cache_submit),
            "cache_result": _check_flag("cache_result", cache_result),
            "retry_fetch": _check_flag("retry_fetch", retry_fetch),
        }
        if cache_scope not in _CACHE_SCOPES:
            raise InvalidInputError(
                f"`cache_scope` must be 'flow' or 'global'; got {cache_scope!r}.",
                argument="cache_scope",
            )
        if cache_expiration is not None and (
            not isinstance(cache_expiration, timedelta) or cache_expiration <= timedelta(0)
        ):
            raise InvalidInputError(
                "`cache_expiration` must be a positive timedelta or None; got "
                f"{cache_expiration!r}.",
                argument="cache_expiration",
            )
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
        # Everything the fetch step will use is checked here, before anything is submitted: a
        # value the fetch task rejects would otherwise fail only after a job was created.
        if artifact_key is not None:
            validate_artifact_key(artifact_key)
        if robust:
            check_wait_arguments(
                timeout, DEFAULT_POLL_INTERVAL, DEFAULT_MAX_POLL_INTERVAL, DEFAULT_REQUEST_TIMEOUT
            )
            _check_result_serializer(result_serializer)
        run_options = self.options if options is None else options
        sampler = self._primitive == "sampler"
        value_name = "shots" if sampler else "precision"
        config_kwargs: dict[str, Any] = {
            "runtime_config": self.runtime_config,
            "runtime_block_name": self.runtime_block_name,
        }

        if not robust:
            simple_task: Any = run_sampler_task if sampler else run_estimator_task
            output: FetchOutput = await simple_task(
                pubs,
                **config_kwargs,
                **{value_name: value},
                options=run_options,
                artifact_key=artifact_key,
            )
            return QCSCPrimitiveJob(
                job_id=output["job_id"],
                primitive=self._primitive,
                output=output,
                **config_kwargs,
            )

        submit: Any = submit_sampler_job_task if sampler else submit_estimator_job_task
        submit_kwargs: dict[str, Any] = {value_name: value, "options": run_options}
        if flags["cache_submit"]:
            config = await aresolve_runtime_config(self.runtime_config, self.runtime_block_name)
            digest_fn: Any = (
                build_qiskit_sampler_input_digest
                if sampler
                else build_qiskit_estimator_input_digest
            )
            submit_kwargs["input_digest"] = digest_fn(
                pubs,
                backend_name=config.backend_name,
                cache_scope=cache_scope,
                options=run_options,
                channel=config.channel,
                instance=config.instance,
                **{value_name: value},
            )
            submit = submit.with_options(
                cache_key_fn=(
                    qiskit_sampler_submit_cache_key
                    if sampler
                    else qiskit_estimator_submit_cache_key
                ),
                cache_expiration=cache_expiration,
                persist_result=True,
            )
        reference: JobReference = await submit(pubs, **config_kwargs, **submit_kwargs)

        fetch_options: dict[str, Any] = {}
        if flags["cache_result"]:
            fetch_options.update(
                cache_key_fn=qiskit_result_fetch_cache_key,
                persist_result=True,
                result_serializer=result_serializer,
                cache_expiration=cache_expiration,
            )
        if flags["retry_fetch"]:
            delays = qiskit_retry_delays()
            fetch_options.update(
                retries=len(delays),
                retry_delay_seconds=delays,
                retry_condition_fn=should_retry_qiskit_fetch_failure,
            )
        fetch: Any = (
            fetch_qiskit_job_result_task.with_options(**fetch_options)
            if fetch_options
            else fetch_qiskit_job_result_task
        )

        async def fetch_output() -> FetchOutput:
            result: FetchOutput = await fetch(
                **config_kwargs,
                job_reference=reference,
                pubs=pubs,
                artifact_key=artifact_key,
                timeout=timeout,
            )
            return result

        return QCSCPrimitiveJob(
            job_id=reference.job_id,
            primitive=self._primitive,
            job_reference=reference,
            fetch=fetch_output,
            **config_kwargs,
        )

    async def _arun_and_fetch(self, pubs: Sequence[object], **kwargs: Any) -> FetchOutput:
        job = await self._arun(pubs, **kwargs)
        return await job._aoutput()


class QCSCSamplerV2(_QCSCPrimitive):
    """A Sampler-shaped wrapper around the library's sampler tasks.

    Args:
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        options: Default native ``SamplerV2`` options (dict or ``SamplerOptions``).

    Example:
        ```python
        sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name="ibm_fez"))
        job = await sampler.run(pubs, shots=100, cache_submit=True, retry_fetch=True)
        result = await job.result()
        ```
    """

    _primitive: PrimitiveName = "sampler"

    def run(
        self,
        pubs: Sequence[object],
        *,
        shots: int | None = None,
        robust: bool = True,
        cache_submit: bool = False,
        cache_result: bool = False,
        retry_fetch: bool = False,
        cache_scope: Literal["flow", "global"] = "flow",
        cache_expiration: timedelta | None = None,
        artifact_key: str | None = None,
        timeout: float | None = None,
        options: object | None = None,
        result_serializer: str = DEFAULT_RESULT_SERIALIZER,
    ) -> QCSCPrimitiveJob | Coroutine[Any, Any, QCSCPrimitiveJob]:
        """Submit the pubs and return a `QCSCPrimitiveJob`.

        Args:
            pubs: Sampler pubs (ISA circuits, or ``(circuit, parameter_values[, shots])``).
            shots: Default shots per pub.
            robust: Split submit/fetch tasks (default). ``False`` runs `run_sampler_task`,
                which submits and waits in one task.
            cache_submit: Cache the job reference by an input digest built for you, so an
                identical rerun reuses the job (robust only).
            cache_result: Persist the fetch output with `qiskit_result_fetch_cache_key`, so a
                rerun restores it without asking the service (robust only).
            retry_fetch: Retry the fetch on transient failures (robust only); submit is never
                retried.
            cache_scope: ``"flow"`` (reruns of the same flow share submit cache entries) or
                ``"global"`` (any flow with the same inputs does).
            cache_expiration: How long cache entries stay valid; ``None``: forever.
            artifact_key: Key for the result artifacts.
            timeout: Seconds the fetch waits for the job (robust only); ``None``: no limit.
            options: Native options for this run, replacing the wrapper's defaults.
            result_serializer: Serializer for ``cache_result`` (``"compressed/pickle"`` as in
                the spec, or ``"qiskit-runtime-json"`` for results that load across qiskit
                versions).

        Returns:
            The job handle (awaitable in async code, see the module docstring).

        Raises:
            InvalidInputError: A flag or argument is invalid (for example a cache flag with
                ``robust=False``); nothing was submitted.
        """
        return _dual(
            self._arun(
                pubs,
                value=shots,
                robust=robust,
                cache_submit=cache_submit,
                cache_result=cache_result,
                retry_fetch=retry_fetch,
                cache_scope=cache_scope,
                cache_expiration=cache_expiration,
                artifact_key=artifact_key,
                timeout=timeout,
                options=options,
                result_serializer=result_serializer,
            )
        )

    def run_and_fetch(
        self, pubs: Sequence[object], *, shots: int | None = None, **kwargs: Any
    ) -> FetchOutput | Coroutine[Any, Any, FetchOutput]:
        """Submit, fetch and return the full dictionary (same arguments as `run`)."""
        return _dual(self._arun_and_fetch(pubs, value=shots, **_run_defaults(kwargs)))


class QCSCEstimatorV2(_QCSCPrimitive):
    """An Estimator-shaped wrapper around the library's estimator tasks.

    Args:
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        options: Default native ``EstimatorV2`` options (dict or ``EstimatorOptions``).

    Example:
        ```python
        estimator = QCSCEstimatorV2(runtime_config=QiskitRuntimeConfig(backend_name="ibm_fez"))
        job = await estimator.run(pubs, precision=0.2, cache_submit=True, retry_fetch=True)
        result = await job.result()
        ```
    """

    _primitive: PrimitiveName = "estimator"

    def run(
        self,
        pubs: Sequence[object],
        *,
        precision: float | None = None,
        robust: bool = True,
        cache_submit: bool = False,
        cache_result: bool = False,
        retry_fetch: bool = False,
        cache_scope: Literal["flow", "global"] = "flow",
        cache_expiration: timedelta | None = None,
        artifact_key: str | None = None,
        timeout: float | None = None,
        options: object | None = None,
        result_serializer: str = DEFAULT_RESULT_SERIALIZER,
    ) -> QCSCPrimitiveJob | Coroutine[Any, Any, QCSCPrimitiveJob]:
        """Submit the pubs and return a `QCSCPrimitiveJob`.

        Same arguments as `QCSCSamplerV2.run`, with ``precision`` instead of ``shots``.

        Args:
            pubs: Estimator pubs ``(circuit, observables[, parameter_values[, precision]])``.
            precision: Default target precision.
            robust: Split submit/fetch tasks (default); ``False`` runs `run_estimator_task`.
            cache_submit: Cache the job reference by an input digest (robust only).
            cache_result: Persist the fetch output by job id (robust only).
            retry_fetch: Retry the fetch on transient failures (robust only).
            cache_scope: ``"flow"`` or ``"global"``.
            cache_expiration: How long cache entries stay valid; ``None``: forever.
            artifact_key: Key for the result artifacts.
            timeout: Seconds the fetch waits for the job (robust only).
            options: Native options for this run, replacing the wrapper's defaults.
            result_serializer: Serializer for ``cache_result``.

        Returns:
            The job handle (awaitable in async code).

        Raises:
            InvalidInputError: A flag or argument is invalid; nothing was submitted.
        """
        return _dual(
            self._arun(
                pubs,
                value=precision,
                robust=robust,
                cache_submit=cache_submit,
                cache_result=cache_result,
                retry_fetch=retry_fetch,
                cache_scope=cache_scope,
                cache_expiration=cache_expiration,
                artifact_key=artifact_key,
                timeout=timeout,
                options=options,
                result_serializer=result_serializer,
            )
        )

    def run_and_fetch(
        self, pubs: Sequence[object], *, precision: float | None = None, **kwargs: Any
    ) -> FetchOutput | Coroutine[Any, Any, FetchOutput]:
        """Submit, fetch and return the full dictionary (same arguments as `run`)."""
        return _dual(self._arun_and_fetch(pubs, value=precision, **_run_defaults(kwargs)))


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
}


def _run_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - set(_RUN_DEFAULTS))
    if unknown:
        raise InvalidInputError(
            f"unknown argument(s) {', '.join(unknown)}; run_and_fetch takes the same arguments "
            f"as run: {', '.join(sorted(_RUN_DEFAULTS))}.",
            argument=unknown[0],
        )
    return {**_RUN_DEFAULTS, **kwargs}


__all__ = ["QCSCEstimatorV2", "QCSCPrimitiveJob", "QCSCSamplerV2"]
