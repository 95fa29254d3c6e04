"""`SubmitTask`: the Prefect task class of the robust submit tasks.

A plain Prefect task, except that each call (``.submit()``, ``.map()``, or a direct call) is
given its call identity in the process that makes it: the flow's process, the only one that
sees the order of the calls (`_identity`). The identity rides on a shallow copy of the task,
which is what the task runner ships to its worker (a thread, a Dask or a Ray worker), so the
cache key function and the task body read the same identity wherever the task runs.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from prefect import Task
from prefect.futures import PrefectFutureList
from prefect.utilities.callables import expand_mapping_parameters, get_call_parameters
from prefect.utilities.engine import resolve_inputs_sync

from ._identity import CALL_IDENTITY_ATTRIBUTE, assign_call_identity

if TYPE_CHECKING:
    from collections.abc import Callable

    from .jobs import PrimitiveName

P = ParamSpec("P")
R = TypeVar("R")


class SubmitTask(Task[P, R]):
    """A Prefect task whose calls get their submission identity where they are made."""

    primitive: PrimitiveName

    def _for_call(self, parameters: dict[str, Any]) -> SubmitTask[P, R]:
        """This task, or a copy carrying the identity of the call with ``parameters``."""
        identity = assign_call_identity(self.primitive, parameters)
        if identity is None:
            return self
        called = copy.copy(self)
        setattr(called, CALL_IDENTITY_ATTRIBUTE, identity)
        return called

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task (Prefect's direct call), with this call's identity."""
        prefect_kwargs = _take(kwargs, "return_state", "wait_for")
        called = self._for_call(get_call_parameters(self.fn, args, kwargs))
        return Task.__call__(called, *args, **prefect_kwargs, **kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """Submit the task to the flow's task runner, with this call's identity."""
        prefect_kwargs = _take(kwargs, "return_state", "wait_for")
        called = self._for_call(get_call_parameters(self.fn, args, kwargs))
        return Task.submit(called, *args, **prefect_kwargs, **kwargs)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """Submit one task run per mapped item, each with its own call identity.

        Prefect's task runners map by submitting one shared task object, which could carry
        only one identity; the items are expanded here and submitted one by one instead.
        Deferred mapping (``deferred=True``) is Prefect's own.
        """
        if kwargs.get("deferred"):
            return Task.map(self, *args, **kwargs)
        prefect_kwargs = _take(kwargs, "return_state", "wait_for", "deferred")
        parameters = get_call_parameters(self.fn, args, kwargs, apply_defaults=False)
        items = expand_mapping_parameters(self.fn, resolve_inputs_sync(parameters, max_depth=0))
        futures: PrefectFutureList[Any] = PrefectFutureList(  # type: ignore[abstract]
            self.submit(**item, wait_for=prefect_kwargs.get("wait_for")) for item in items
        )
        if not prefect_kwargs.get("return_state"):
            return futures
        states: list[Any] = []
        for future in futures:
            future.wait()
            states.append(future.state)
        return states

    def with_options(self, **options: Any) -> SubmitTask[P, R]:
        """Prefect's ``with_options``, keeping this class (Prefect builds a plain `Task`).

        Asking for ``retries`` without a ``retry_condition_fn`` retries every failure, as for
        any Prefect task: the built-in condition (retry only a torn cache read) is dropped.
        """
        changed: Any = Task.with_options(self, **options)
        if "retries" in options and "retry_condition_fn" not in options:
            changed.retry_condition_fn = None
        changed.__class__ = type(self)
        changed.primitive = self.primitive
        result: SubmitTask[P, R] = changed
        return result


def _take(kwargs: dict[str, Any], *names: str) -> dict[str, Any]:
    """Remove Prefect's own call options from ``kwargs`` and return them."""
    return {name: kwargs.pop(name) for name in names if name in kwargs}


def submit_task(
    primitive: PrimitiveName, **task_options: Any
) -> Callable[[Callable[P, R]], SubmitTask[P, R]]:
    """Decorator: make ``fn`` a `SubmitTask` for ``primitive`` with Prefect's task options."""

    def decorate(fn: Callable[P, R]) -> SubmitTask[P, R]:
        made = SubmitTask(fn=fn, **task_options)
        made.primitive = primitive
        return made

    return decorate


__all__ = ["SubmitTask", "submit_task"]
