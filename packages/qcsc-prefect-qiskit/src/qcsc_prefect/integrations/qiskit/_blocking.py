"""Run short, blocking Qiskit Runtime client calls off the event loop, with a bound.

qiskit-ibm-runtime's HTTP session has no read timeout: a stalled server blocks a call forever.
Every client call the library makes goes through :func:`call_blocking`, which runs it on a small,
dedicated thread pool and stops *waiting* after ``timeout`` seconds. Waiting for a job never holds
a thread: the fetch task polls with short calls and sleeps on the event loop in between.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar

from .errors import NO_RESPONSE, RuntimeApiError

if TYPE_CHECKING:
    from collections.abc import Callable

P = ParamSpec("P")
T = TypeVar("T")

#: Threads for client calls, per process. Bounded so that 100 jobs in flight stay cheap.
MAX_CLIENT_THREADS: Final = 8

_executor: ThreadPoolExecutor | None = None
_executor_guard = threading.Lock()


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_guard:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=MAX_CLIENT_THREADS, thread_name_prefix="qcsc-qiskit-client"
            )
        return _executor


async def call_blocking(
    fn: Callable[P, T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run ``fn(*args, **kwargs)`` on the client thread pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_get_executor(), functools.partial(fn, *args, **kwargs))


async def call_blocking_bounded(
    timeout: float | None,
    what: str,
    fn: Callable[P, T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Like :func:`call_blocking`, but give up waiting after ``timeout`` seconds.

    Args:
        timeout: Seconds to wait; ``None`` waits as long as the call takes.
        what: A short description of the call, for the error message.
        fn: The blocking callable.
        *args: Positional arguments for ``fn``.
        **kwargs: Keyword arguments for ``fn``.

    Raises:
        RuntimeApiError: With ``http_status=-1`` when the service did not answer in time (the
            call may still complete in the background; its outcome is discarded).
    """
    future = call_blocking(fn, *args, **kwargs)
    if timeout is None:
        return await future
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise RuntimeApiError(
            f"the Qiskit Runtime service did not answer {what} within {timeout:g} s "
            "(the client has no read timeout; the server may be stalled). The call is safe to "
            "retry.",
            http_status=NO_RESPONSE,
        ) from None
