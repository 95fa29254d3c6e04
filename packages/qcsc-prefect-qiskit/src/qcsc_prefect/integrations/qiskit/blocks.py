"""`QiskitRuntimeConfig`: a Prefect Block describing where and how to reach Qiskit Runtime.

The Block holds settings only. The live `QiskitRuntimeService` and backend objects are built on
demand by `_runtime.services` (imported lazily, so importing this module, which Prefect does for
every installed collection when it resolves block types, stays cheap).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from prefect.blocks.core import Block
from prefect.exceptions import ObjectNotFound
from pydantic import Field, SecretStr

from ._logging import run_logger
from .errors import RuntimeConfigError

if TYPE_CHECKING:
    from qiskit.providers import BackendV2

#: Same values as ``jobs.ChannelName``; repeated here so that importing the Block does not import
#: qiskit (a unit test keeps the two in step).
_Channel = Literal["ibm_quantum_platform", "ibm_cloud", "local"]


class QiskitRuntimeConfig(Block):
    """Where and how to reach Qiskit Runtime: backend name plus optional account settings.

    Every account field defaults to ``None``, meaning "let qiskit-ibm-runtime decide": with no
    token, the service uses its normal account discovery (saved account file or the
    ``QISKIT_IBM_*`` environment variables). ``channel="local"`` runs offline on the fake
    backends of ``qiskit_ibm_runtime.fake_provider`` (for example ``fake_manila``).

    The native service is built once per process for each distinct configuration (see
    `get_service`), so loading the Block in many tasks does not re-authenticate each time.

    Example:
        Load a saved configuration and get the native backend:
        ```python
        from qcsc_prefect.integrations.qiskit import QiskitRuntimeConfig

        runtime_config = QiskitRuntimeConfig.load("BLOCK_NAME")
        backend = runtime_config.get_backend()
        ```
    """

    _block_type_name: ClassVar[str] = "Qiskit Runtime Config"
    _block_type_slug: ClassVar[str] = "qiskit-runtime-config"
    # No logo: the project ships none yet, and the UI falls back to its default icon.
    _documentation_url: ClassVar[Any] = (
        "https://quantum.cloud.ibm.com/docs/en/api/qiskit-ibm-runtime/qiskit-runtime-service"
    )
    _description: ClassVar[str | None] = (
        "Backend name and optional account settings used by the qcsc-prefect-qiskit tasks to "
        "build a native QiskitRuntimeService and backend."
    )

    backend_name: str = Field(
        description="Backend to run on, for example `ibm_fez` (or `fake_manila` with the "
        "`local` channel).",
    )
    channel: _Channel | None = Field(
        default=None,
        description="Qiskit Runtime channel; `None` lets qiskit-ibm-runtime discover it from a "
        "saved account or `QISKIT_IBM_CHANNEL`, and `local` runs offline on fake backends.",
    )
    instance: str | None = Field(
        default=None,
        description="Instance CRN or name; `None` uses account discovery.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="IBM Cloud API key; `None` uses qiskit-ibm-runtime's account discovery. "
        "Prefer saving it in a Block over passing it inline.",
    )
    url: str | None = Field(
        default=None,
        description="Base URL of the Runtime API or authentication endpoint; `None` uses the "
        "channel default.",
    )
    account_name: str | None = Field(
        default=None,
        description="Name of an account saved with `QiskitRuntimeService.save_account`.",
    )
    filename: str | None = Field(
        default=None,
        description="Path of the Qiskit account file to read `account_name` from.",
    )
    verify: bool | None = Field(
        default=None,
        description="Whether to verify the server's TLS certificate; `None` uses the default.",
    )
    proxies: dict[str, Any] | None = Field(
        default=None,
        description="Proxy settings in qiskit-ibm-runtime's format, for example "
        '`{"urls": {"https": "http://proxy:8080"}}`.',
    )
    private_endpoint: bool | None = Field(
        default=None,
        description="Whether to connect through the IBM Cloud private endpoint.",
    )
    region: str | None = Field(
        default=None,
        description="Preferred IBM Cloud region when several instances are available, for "
        "example `us-east`.",
    )
    plans_preference: list[str] | None = Field(
        default=None,
        description="Preferred instance plan types in order, for example `['open', 'premium']`.",
    )
    primitive_api: Literal["v2", "executor"] = Field(
        default="v2",
        description="`v2` runs SamplerV2/EstimatorV2; `executor` runs qiskit-ibm-runtime's "
        "client-side executor Sampler/Estimator (program `executor`), which the client "
        "recommends since 0.50. Results are the client's own types either way.",
    )
    execution_mode: Literal["job", "batch", "session"] = Field(
        default="job",
        description="`job` submits each job on its own; `batch` and `session` submit every job of "
        "a flow run into one Batch or Session that the flow run opens on first use and closes "
        "when it ends.",
    )
    session_max_time: int | None = Field(
        default=None,
        description="Maximum time in seconds of a Batch or Session the library opens; `None` "
        "uses the service's default.",
    )
    session_id: str | None = Field(
        default=None,
        description="Id of an existing Batch or Session to submit into (with the matching "
        "`execution_mode`); it is neither opened nor closed by the library. `None` lets each "
        "flow run open its own.",
    )
    lock_url: SecretStr | None = Field(
        default=None,
        description="Submit lock shared by every host, for example "
        "`postgresql://user:password@host:5432/locks`; `None` uses `QCSC_QISKIT_LOCK_URL`, and "
        "when that is unset too, a lock that protects the processes of one machine only.",
    )

    qpu_budget_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Most QPU seconds one flow run may commit (usage of its finished jobs plus "
        "the service's estimate for its pending ones); a submission once the committed total "
        "reaches it raises QpuBudgetExceededError. `None` sets no budget (docs/cost-control.md).",
    )
    submit_when_usage_limit_reached: bool = Field(
        default=False,
        description="Submit even when the instance has reached its usage limit (the job then "
        "waits until time is made available); `False` raises UsageLimitReachedError instead.",
    )

    def get_service(self) -> Any:
        """Return the native `QiskitRuntimeService` for this configuration.

        The service is built once per process for each distinct configuration (all fields,
        including the token, plus the ``QISKIT_IBM_*``, ``IAM_URL``, ``GLOBAL_SEARCH_URL`` and
        ``GLOBAL_CATALOG_URL`` environment variables) and reused afterwards; the cache is
        thread-safe.

        Returns:
            A ``QiskitRuntimeService`` (``QiskitRuntimeLocalService`` for ``channel="local"``).

        Raises:
            RuntimeConfigError: The service could not be set up from this configuration.
            RuntimeAuthError: The service rejected the credentials.
        """
        from ._runtime import services  # deferred on purpose: keeps importing the Block cheap

        return services.cached_service(self)

    def get_backend(self) -> BackendV2:
        """Return the native backend named `backend_name`, cached per service and name.

        Returns:
            The native ``BackendV2`` (an ``IBMBackend``, or a fake backend in local mode).

        Raises:
            BackendNotFoundError: No backend of that name exists; the message lists some that do.
        """
        from ._runtime import services  # deferred on purpose: keeps importing the Block cheap

        return services.cached_backend(self)

    @property
    def has_token(self) -> bool:
        """Whether a token is stored in this configuration (its value is never exposed)."""
        return self.token is not None


_HOW_TO_CREATE = (
    "Create it in Python with\n"
    '    QiskitRuntimeConfig(backend_name="ibm_fez").save("{name}")\n'
    "or register the block type with\n"
    "    prefect block register -m qcsc_prefect.integrations.qiskit\n"
    "and create a 'Qiskit Runtime Config' block named '{name}' in the Prefect UI."
)


def check_runtime_choice(
    runtime_config: object, runtime_block_name: object, *, who: str | None = None
) -> None:
    """Check that exactly one of ``runtime_config`` and ``runtime_block_name`` is given.

    The one check shared by the tasks (through `aresolve_runtime_config`) and the wrappers'
    constructors, so both reject the same arguments with the same message.

    Args:
        runtime_config: The ``runtime_config=`` argument; must be a `QiskitRuntimeConfig` when
            given.
        runtime_block_name: The ``runtime_block_name=`` argument.
        who: The caller's name for the message (for example ``"QCSCSamplerV2"``).

    Raises:
        RuntimeConfigError: Both or neither argument was given, or ``runtime_config`` is not a
            `QiskitRuntimeConfig`.
    """
    if (runtime_config is None) == (runtime_block_name is None):
        given = "both were given" if runtime_config is not None else "neither was given"
        subject = f"{who} needs" if who else "pass"
        raise RuntimeConfigError(
            f"{subject} exactly one of `runtime_config=` (a QiskitRuntimeConfig) or "
            f"`runtime_block_name=` (the name of a saved QiskitRuntimeConfig Block); {given}."
        )
    if runtime_config is not None and not isinstance(runtime_config, QiskitRuntimeConfig):
        raise RuntimeConfigError(
            f"`runtime_config=` must be a QiskitRuntimeConfig, got {type(runtime_config).__name__}."
        )


async def aresolve_runtime_config(
    runtime_config: QiskitRuntimeConfig | None,
    runtime_block_name: str | None,
) -> QiskitRuntimeConfig:
    """Return the configuration a task should use, from exactly one of its two arguments.

    Args:
        runtime_config: A configuration passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block to load.

    Returns:
        The configuration to use.

    Raises:
        RuntimeConfigError: Both or neither argument was given, the argument has the wrong
            type, or no Block of that name exists (the message shows how to create one).
    """
    check_runtime_choice(runtime_config, runtime_block_name)
    if runtime_config is not None:
        if runtime_config.token is not None:
            _warn_inline_token(runtime_config)
        return runtime_config

    assert runtime_block_name is not None
    if not isinstance(runtime_block_name, str) or not runtime_block_name:
        raise RuntimeConfigError(
            "`runtime_block_name=` must be the non-empty name of a saved QiskitRuntimeConfig Block."
        )
    try:
        return await QiskitRuntimeConfig.aload(runtime_block_name)
    except ValueError as exc:
        if not isinstance(exc.__cause__, ObjectNotFound):
            raise
    # Raised outside the except block so the Prefect lookup error is not chained.
    raise RuntimeConfigError(
        f"no QiskitRuntimeConfig Block named '{runtime_block_name}' (block type "
        f"'{QiskitRuntimeConfig.get_block_type_slug()}') exists on this Prefect server. "
        + _HOW_TO_CREATE.format(name=runtime_block_name)
    )


def _warn_inline_token(runtime_config: QiskitRuntimeConfig) -> None:
    saved_name = runtime_config._block_document_name
    if saved_name:
        advice = f'pass runtime_block_name="{saved_name}" instead of the loaded object'
    else:
        advice = (
            'save it once with QiskitRuntimeConfig(...).save("ibm-runtime") and pass '
            'runtime_block_name="ibm-runtime", or leave the token out and rely on '
            "qiskit-ibm-runtime's saved account or QISKIT_IBM_TOKEN"
        )
    run_logger().warning(
        "A QiskitRuntimeConfig carrying a token was passed directly as `runtime_config=`. "
        "Tokens in task parameters are easy to leak; %s.",
        advice,
    )


__all__ = ["QiskitRuntimeConfig", "aresolve_runtime_config", "check_runtime_choice"]
