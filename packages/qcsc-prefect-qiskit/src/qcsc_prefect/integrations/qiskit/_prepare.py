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
from .execution_modes import check_execution_mode
from .validation import validate_inputs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .blocks import QiskitRuntimeConfig
    from .jobs import PrimitiveName


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


async def aprepare_inputs(
    primitive: PrimitiveName,
    pubs: Sequence[object],
    config: QiskitRuntimeConfig,
    *,
    shots: int | None,
    precision: float | None,
    options: object | None,
) -> PreparedInputs:
    """Resolve the backend and check everything a submission needs; nothing is posted.

    Raises:
        InvalidInputError: Bad pubs, program, shots, precision or options.
        RuntimeConfigError: The execution mode cannot be used with this backend or channel.
    """
    backend = await call_blocking(config.get_backend)
    check_execution_mode(config, backend)
    program = is_quantum_program(pubs)
    if program:
        check_program_call(pubs, config.primitive_api, shots, precision)
    # Off the event loop: checking large circuits against the target takes time.
    checked = await call_blocking(
        validate_inputs, primitive, pubs, backend=backend, shots=shots, precision=precision
    )
    await call_blocking(build_native, primitive, config, backend, options, program)
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


__all__ = ["PreparedInputs", "aprepare_inputs", "build_native"]
