"""The checks every submission passes before anything is posted, shared by both task families.

Simple mode (`tasks`) and robust mode (`submit`) prepare a submission the same way: resolve the
backend, refuse an execution mode the backend or channel cannot hold, check the pubs (or the
``QuantumProgram``) against the backend, and check the options by building a primitive that is
thrown away — all before a Batch/Session is opened or a job is posted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._programs import check_program_call, is_quantum_program
from ._runtime import native
from ._runtime.pool import call_blocking
from .blocks import aresolve_runtime_config
from .execution_modes import check_execution_mode
from .validation import validate_inputs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .blocks import QiskitRuntimeConfig
    from .jobs import PrimitiveName


@dataclass(frozen=True)
class JobRequest:
    """What a run, submit or estimate task is asked for: the arguments all of them take.

    The public task signatures spell these out; the task bodies pass them on as one value.

    Attributes:
        primitive: ``"sampler"`` or ``"estimator"``.
        pubs: The pubs as given (or a ``QuantumProgram``).
        runtime_config: The runtime configuration, or ``None`` with ``runtime_block_name``.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block, or ``None``.
        shots: Default shots per pub (sampler), or ``None``.
        precision: Default target precision (estimator), or ``None``.
        options: Native primitive options (a dict or an options object), or ``None``.
    """

    primitive: PrimitiveName
    pubs: Sequence[object]
    runtime_config: QiskitRuntimeConfig | None
    runtime_block_name: str | None
    shots: int | None = None
    precision: float | None = None
    options: object | None = None

    async def aconfig(self) -> QiskitRuntimeConfig:
        """The configuration: ``runtime_config``, or the Block named ``runtime_block_name``.

        Raises:
            RuntimeConfigError: Both or neither were given, or no Block has that name.
        """
        return await aresolve_runtime_config(self.runtime_config, self.runtime_block_name)


@dataclass(frozen=True)
class PreparedInputs:
    """Checked inputs, ready to post.

    Attributes:
        backend: The native backend.
        pubs: The coerced pubs, or the ``QuantumProgram`` unchanged.
        program: Whether ``pubs`` is a ``QuantumProgram`` (posted through the ``Executor``).
    """

    backend: Any
    pubs: Sequence[object]
    program: bool


async def aprepare_inputs(request: JobRequest, config: QiskitRuntimeConfig) -> PreparedInputs:
    """Resolve the backend and check everything a submission of ``request`` needs.

    Nothing is posted.

    Raises:
        InvalidInputError: Bad pubs, program, shots, precision or options.
        RuntimeConfigError: The execution mode cannot be used with this backend or channel.
    """
    primitive, pubs, shots, precision = (
        request.primitive, request.pubs, request.shots, request.precision
    )  # fmt: skip
    backend = await call_blocking(config.get_backend)
    check_execution_mode(config, backend)
    program = is_quantum_program(pubs)
    if program:
        check_program_call(pubs, config.primitive_api, shots, precision)
    # Off the event loop: checking large circuits against the target takes time.
    checked = await call_blocking(
        validate_inputs, primitive, pubs, backend=backend, shots=shots, precision=precision
    )
    await call_blocking(build_native, primitive, config, backend, request.options, program)
    return PreparedInputs(backend=backend, pubs=checked, program=program)


def build_native(
    primitive: PrimitiveName,
    config: QiskitRuntimeConfig,
    mode: Any,
    options: object | None,
    program: bool,
) -> Any:
    """The native primitive (or ``Executor``) for ``config``'s client API on ``mode``."""
    return native.build_primitive(primitive, mode, options, config.primitive_api, program=program)


__all__ = ["JobRequest", "PreparedInputs", "aprepare_inputs", "build_native"]
