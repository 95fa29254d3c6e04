"""Run blocking Qiskit Runtime client calls off the event loop, each with a bound on the wait.

qiskit-ibm-runtime's HTTP session has no read timeout: a stalled server blocks a call forever.
Every client call the library makes runs on one small per-process pool of worker threads, and
every wait for one is bounded: `call_blocking` waits at most `DEFAULT_CALL_TIMEOUT` seconds,
`call_blocking_bounded` and `wait_bounded` as long as their caller says. Waiting for a job never
holds a thread: the tasks poll with short calls and sleep on the event loop in between.

When a wait gives up, the call is *abandoned*: a call that has not started yet is cancelled and
never runs; a running one cannot be stopped (Python cannot interrupt a thread), so it goes on in
the background and its outcome is discarded unless its caller kept the `Future`.

Limits:

* `MAX_CLIENT_THREADS` calls run at once; further calls queue for a free worker. Calls made
  inside `behind_waiting_calls` (posting new jobs) queue behind the calls of jobs already
  waiting (status reads, job lists, result downloads), so that a flow submitting a thousand jobs
  collects the results of its first ones meanwhile instead of after its last post.
* An abandoned call does not count against that capacity: the pool starts a replacement worker
  for it, so stalled calls cannot starve the unrelated calls made after them.
* `MAX_TOTAL_CLIENT_THREADS` is the hard cap on worker threads, stalled ones included. When
  abandoned calls fill it, new calls are refused at once with a `RuntimeApiError` (no response)
  that says so, instead of queueing behind threads that may never come back.
* Worker threads are daemon threads: an abandoned call never keeps the process from exiting.

`client_pool_stats` reports the pool's state for logging and tests; a wait that gives up on a
running call logs it as a warning.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import queue
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

from .. import _state
from .._logging import run_logger
from ..errors import NO_RESPONSE, RuntimeApiError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

P = ParamSpec("P")
T = TypeVar("T")

#: Calls that run at once, per process. A job costs about six client requests and each waits a
#: full round trip, so this bounds a process's request rate (11 threads at 40 ms: ~270/s), while
#: a flow with 1,000 jobs in flight stays within 20 OS threads.
MAX_CLIENT_THREADS: Final = 11

#: Hard cap on worker threads, per process, counting those stuck in abandoned calls.
MAX_TOTAL_CLIENT_THREADS: Final = 64

#: Bound on a `call_blocking` wait: generous, the longest the client itself allows a request.
DEFAULT_CALL_TIMEOUT: Final = 900.0


#: Queue order of the calls made in this context: 0 first, then 1 (see `behind_waiting_calls`).
_ORDER: Final[ContextVar[int]] = ContextVar("qcsc_qiskit_client_call_order", default=0)


@contextmanager
def behind_waiting_calls() -> Iterator[None]:
    """Queue the client calls made inside (in this task) behind every other queued call."""
    token = _ORDER.set(1)
    try:
        yield
    finally:
        _ORDER.reset(token)


@dataclass(frozen=True, slots=True)
class ClientPoolStats:
    """A snapshot of the client pool.

    Attributes:
        running: Calls running that someone still waits for.
        queued: Calls waiting for a free worker.
        abandoned: Calls still running after their wait gave up (stalled, most likely).
        threads: Worker threads alive (at most `MAX_TOTAL_CLIENT_THREADS`).
    """

    running: int
    queued: int
    abandoned: int
    threads: int


class _Call:
    """One call and its future; ``abandoned`` is set once its wait gave up while it ran."""

    __slots__ = ("abandoned", "fn", "future")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.abandoned = False


class _ClientPool:
    """Worker threads fed by one queue; counts kept under one lock (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.PriorityQueue[tuple[int, int, _Call]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._calls: dict[concurrent.futures.Future[Any], _Call] = {}
        self._threads = 0
        self._idle = 0
        self._queued = 0
        self._running = 0
        self._abandoned = 0

    def stats(self) -> ClientPoolStats:
        with self._lock:
            return ClientPoolStats(self._running, self._queued, self._abandoned, self._threads)

    def submit(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        call = _Call(lambda: fn(*args, **kwargs))
        with self._lock:
            if self._abandoned >= MAX_TOTAL_CLIENT_THREADS:
                raise _pool_full(self._abandoned)
            self._calls[call.future] = call
            self._queued += 1
            self._queue.put((_ORDER.get(), next(self._order), call))
            self._grow()
        return call.future

    def abandon(self, future: concurrent.futures.Future[Any]) -> bool:
        """Give up on ``future``: cancel it if it has not started, else let it run unwatched.

        Returns:
            Whether a running call was abandoned (it occupies a thread until it ends).
        """
        if future.cancel():
            return False
        with self._lock:
            call = self._calls.get(future)
            if call is None or call.abandoned:
                return False
            call.abandoned = True
            self._running -= 1
            self._abandoned += 1
            self._grow()
            return True

    def _grow(self) -> None:
        """Start workers for queued calls while capacity and the hard cap allow (lock held)."""
        while (
            self._queued > self._idle
            and self._threads - self._abandoned < MAX_CLIENT_THREADS
            and self._threads < MAX_TOTAL_CLIENT_THREADS
        ):
            self._threads += 1
            self._idle += 1
            worker = threading.Thread(target=self._work, name="qcsc-qiskit-client", daemon=True)
            worker.start()

    def _work(self) -> None:
        while True:
            _, _, call = self._queue.get()
            with self._lock:
                self._idle -= 1
                self._queued -= 1
                starts = call.future.set_running_or_notify_cancel()
                if starts:
                    self._running += 1
                else:
                    del self._calls[call.future]
            if starts:
                self._run(call)
            with self._lock:
                if self._threads - self._abandoned > MAX_CLIENT_THREADS:
                    self._threads -= 1  # a replacement outlived the stall it stood in for
                    return
                self._idle += 1

    def _run(self, call: _Call) -> None:
        error: BaseException | None = None
        try:
            value = call.fn()
        except BaseException as exc:
            error = exc
        # Counts first, then the outcome: whoever wakes on the future sees the pool settled.
        with self._lock:
            del self._calls[call.future]
            if call.abandoned:
                self._abandoned -= 1
            else:
                self._running -= 1
        if error is not None:
            call.future.set_exception(error)
        else:
            call.future.set_result(value)


def _pool_full(abandoned: int) -> RuntimeApiError:
    return RuntimeApiError(
        f"{abandoned} abandoned Qiskit Runtime client calls are still stalled, which is the "
        f"client pool's hard cap of {MAX_TOTAL_CLIENT_THREADS} threads; no new call was started. "
        "The service (or the network to it) is probably not answering: retry later.",
        http_status=NO_RESPONSE,
    )


_pool = _ClientPool()
_state.register(
    "_runtime.pool._pool",
    holds="the client pool's worker threads and queued calls",
    bound=f"{MAX_CLIENT_THREADS} calls at once, {MAX_TOTAL_CLIENT_THREADS} threads in all",
    reset=None,
)


def client_pool_stats() -> ClientPoolStats:
    """Return the client pool's current counts (running, queued, abandoned, threads)."""
    return _pool.stats()


def start_blocking(
    fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> concurrent.futures.Future[T]:
    """Start ``fn(*args, **kwargs)`` on the client pool and return its future at once.

    For a caller that must know when a call really ends even after it stopped waiting (the
    submit step keeps its lock until an abandoned ``POST /jobs`` finishes). Wait for it with
    `wait_bounded`.

    Raises:
        RuntimeApiError: With ``http_status=-1`` when abandoned calls fill the pool's hard cap.
    """
    return _pool.submit(fn, *args, **kwargs)


async def wait_bounded(future: concurrent.futures.Future[T], timeout: float | None, what: str) -> T:
    """Await a call started with `start_blocking`, for at most ``timeout`` seconds.

    If the wait ends early (timeout, or the awaiting task is cancelled), the call is abandoned:
    cancelled if it has not started, else left running with its capacity replaced (see the
    module docstring). ``future`` still completes then, so a caller may keep watching it.

    Args:
        future: The future `start_blocking` returned.
        timeout: Seconds to wait; ``None`` means `DEFAULT_CALL_TIMEOUT`.
        what: A short description of the call, for the error message.

    Raises:
        RuntimeApiError: With ``http_status=-1`` when the call did not finish in time.
    """
    bound = DEFAULT_CALL_TIMEOUT if timeout is None else timeout
    try:
        # Cancelling the wrapper on timeout cancels a call that has not started; abandon()
        # then accounts for one that has.
        return await asyncio.wait_for(asyncio.wrap_future(future), bound)
    except TimeoutError:
        if _pool.abandon(future):
            stats = _pool.stats()
            run_logger().warning(
                "Stopped waiting for %s after %g s; the call is stalled and left running "
                "(client pool: %d running, %d queued, %d abandoned, %d threads).",
                what,
                bound,
                stats.running,
                stats.queued,
                stats.abandoned,
                stats.threads,
            )
        raise RuntimeApiError(
            f"the Qiskit Runtime service did not answer {what} within {bound:g} s "
            "(the client has no read timeout; the server may be stalled). The call is safe to "
            "retry.",
            http_status=NO_RESPONSE,
        ) from None
    except asyncio.CancelledError:
        _pool.abandon(future)
        raise


async def call_blocking_bounded(
    timeout: float | None,
    what: str,
    fn: Callable[P, T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run ``fn(*args, **kwargs)`` on the client pool and wait at most ``timeout`` seconds.

    Args:
        timeout: Seconds to wait; ``None`` means `DEFAULT_CALL_TIMEOUT`.
        what: A short description of the call, for the error message.
        fn: The blocking callable.
        *args: Positional arguments for ``fn``.
        **kwargs: Keyword arguments for ``fn``.

    Raises:
        RuntimeApiError: With ``http_status=-1`` when the call did not finish in time (it is
            abandoned, see the module docstring) or the pool's hard cap is reached.
    """
    return await wait_bounded(start_blocking(fn, *args, **kwargs), timeout, what)


async def call_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` on the client pool; wait at most `DEFAULT_CALL_TIMEOUT`.

    Raises:
        RuntimeApiError: With ``http_status=-1`` when the call did not finish in time or the
            pool's hard cap is reached.
    """
    what = f"the call {getattr(fn, '__qualname__', 'to the client')}"
    return await call_blocking_bounded(None, what, fn, *args, **kwargs)


__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "MAX_CLIENT_THREADS",
    "MAX_TOTAL_CLIENT_THREADS",
    "ClientPoolStats",
    "behind_waiting_calls",
    "call_blocking",
    "call_blocking_bounded",
    "client_pool_stats",
    "start_blocking",
    "wait_bounded",
]
