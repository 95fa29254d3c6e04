"""Answers the process already has: no request for what the service told us moments ago.

qiskit-ibm-runtime asks before every submission for the instance's usage (``GET
/instances/usage``) and the backend's status (``GET /backends/{name}/status``), and only warns
on what they say; it lists the backends again for every ``service.backend(name)`` and every
``service.job(id)``; every status check reads the job (``GET /jobs/{id}``) even when a job list
this process just read already showed it finished. At scale those requests are what the service
rate-limits, so the client's connection is given memory of its own answers:

* **instance usage, backend status and the backend list** are reused for `FRESH_FOR` seconds:
  the client still checks them (and still warns), against an answer at most that old. Calls
  made while one is in flight wait for it instead of asking again;
* **a job's final document** (DONE, ERROR or CANCELLED; a final status never changes) seen in a
  job read or a job-list page answers the next read of that job, and is what `final_document`
  gives the usage records, instead of a ``GET /jobs/{id}/metrics`` per job;
* **a job's recent document** (a job read, a tag lookup that listed it, or the service's
  acceptance of its post, which makes it queued) tells a task that starts waiting for that job
  what its status was moments ago (`recent_document`), instead of asking again at once. It
  never answers the client's own reads: a status that is not final may change.

Everything else the client asks goes to the service as before. Nothing here builds a request
of its own: each wrapper calls the client's own method, so retries, authentication and error
handling stay the client's. Errors are never remembered.
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final

from .. import _state

#: Seconds an instance-usage or backend-status answer is reused.
FRESH_FOR: Final = 60.0

#: Seconds a call waits for the same question already in flight before asking itself.
FLIGHT_WAIT: Final = 1.0

#: Job documents kept per connection (oldest forgotten first); about 1 kB each.
MAX_DOCUMENTS: Final = 4096

_FINAL: Final = frozenset({"COMPLETED", "FAILED", "CANCELLED", "DONE", "ERROR"})

#: The client connection's methods given memory.
_WRAPPED: Final = (
    "cloud_usage",
    "backend_status",
    "list_backends",
    "job_get",
    "jobs_get",
    "program_run",
)

#: The attribute that marks a connection whose answers are remembered.
_MARK: Final = "_qcsc_answers"


class _Fresh:
    """One remembered answer per key, reused for `FRESH_FOR` seconds.

    A call that finds another one asking for the same key waits for that answer, up to
    `FLIGHT_WAIT` seconds (a stalled request must not hold every caller), then asks itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[object, threading.Event] = {}
        self._answers: dict[object, tuple[float, Any]] = {}

    def get(self, key: object, ask: Callable[[], Any]) -> Any:
        while True:
            with self._lock:
                held = self._answers.get(key)
                if held is not None and time.monotonic() - held[0] < FRESH_FOR:
                    return copy.deepcopy(held[1])
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = threading.Event()
                    break
            if not flight.wait(FLIGHT_WAIT):
                return ask()
        try:
            answer = ask()
            with self._lock:
                self._answers[key] = (time.monotonic(), copy.deepcopy(answer))
            return answer
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.set()

    def seed(self, key: object, answer: Any) -> None:
        """Remember ``answer`` as just received (an answer the client got before we watched)."""
        with self._lock:
            self._answers.setdefault(key, (time.monotonic(), copy.deepcopy(answer)))

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


class _Documents:
    """The last document read of each job, with when it was read; bounded, oldest first out.

    A final document answers later reads of its job. A document that is not final answers
    nothing: it only tells a new waiter what the job's status was a moment ago (`recent`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: OrderedDict[str, tuple[float, Mapping[str, Any]]] = OrderedDict()

    def note(self, doc: object, *, final_only: bool = False) -> None:
        if not isinstance(doc, Mapping) or "id" not in doc:
            return
        if final_only and not is_final(doc):
            return
        job_id = str(doc["id"])
        with self._lock:
            self._docs[job_id] = (time.monotonic(), doc)
            self._docs.move_to_end(job_id)
            while len(self._docs) > MAX_DOCUMENTS:
                self._docs.popitem(last=False)

    def final(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            held = self._docs.get(job_id)
        if held is None or not is_final(held[1]):
            return None
        return copy.deepcopy(dict(held[1]))

    def recent(self, job_id: str, max_age: float) -> dict[str, Any] | None:
        with self._lock:
            held = self._docs.get(job_id)
        if held is None or time.monotonic() - held[0] > max_age:
            return None
        return copy.deepcopy(dict(held[1]))


class _Memory:
    """What one connection remembers."""

    def __init__(self) -> None:
        self.fresh = _Fresh()
        self.documents = _Documents()


_memories: Final[weakref.WeakSet[_Memory]] = weakref.WeakSet()
_memories_guard: Final = threading.Lock()


def is_final(doc: Mapping[str, Any]) -> bool:
    """Whether a job document shows a final status."""
    state = doc.get("state")
    raw = state.get("status") if isinstance(state, Mapping) else None
    return str(raw or doc.get("status") or "").upper() in _FINAL


def remember_answers(connection: Any) -> None:
    """Give the client connection ``connection`` memory of its answers (idempotent).

    ``connection`` is a qiskit-ibm-runtime ``RuntimeClient`` (``service._api_clients`` values,
    ``backend._api_client``, ``job._api_client``); anything without its methods is left alone.
    """
    if connection is None or getattr(connection, _MARK, None) is not None:
        return
    if not all(callable(getattr(connection, name, None)) for name in _WRAPPED):
        return
    memory = _Memory()
    wrappers = {**_fresh_answers(connection, memory), **_job_documents(connection, memory)}
    for name, wrapper in wrappers.items():
        setattr(connection, name, wrapper)
    setattr(connection, _MARK, memory)
    with _memories_guard:
        _memories.add(memory)


def _fresh_answers(connection: Any, memory: _Memory) -> dict[str, Callable[..., Any]]:
    """Instance usage, backend status and the backend list, reused while fresh."""
    usage, status = connection.cloud_usage, connection.backend_status
    backends = connection.list_backends

    def cloud_usage() -> Any:
        return memory.fresh.get("usage", usage)

    def backend_status(backend_name: str) -> Any:
        return memory.fresh.get(("status", backend_name), lambda: status(backend_name))

    def list_backends(include_mocks: bool = False) -> Any:
        return memory.fresh.get(("backends", include_mocks), lambda: backends(include_mocks))

    return {
        "cloud_usage": cloud_usage,
        "backend_status": backend_status,
        "list_backends": list_backends,
    }


def _job_documents(connection: Any, memory: _Memory) -> dict[str, Callable[..., Any]]:
    """Job reads answered by final documents; every job document read is noted."""
    job_get, jobs_get, post = connection.job_get, connection.jobs_get, connection.program_run

    def job_read(job_id: str, exclude_params: bool = True) -> Any:
        if not exclude_params:
            return job_get(job_id, exclude_params=False)
        known = memory.documents.final(str(job_id))
        if known is not None:
            return known
        doc = job_get(job_id, exclude_params=True)
        memory.documents.note(doc)
        return doc

    def program_run(*args: Any, **kwargs: Any) -> Any:
        response = post(*args, **kwargs)
        if isinstance(response, Mapping) and "id" in response:
            # The service has just accepted the job: it is queued, as far as anyone can know.
            memory.documents.note({"id": response["id"], "state": {"status": "Queued"}})
        return response

    def job_list(*args: Any, **kwargs: Any) -> Any:
        page = jobs_get(*args, **kwargs)
        if isinstance(page, Mapping):
            # A tag lookup lists the few jobs this process asks about: each is remembered. Other
            # lists (the poller's pending pages) only add what they show finished.
            final_only = not kwargs.get("job_tags")
            for doc in page.get("jobs") or []:
                memory.documents.note(doc, final_only=final_only)
        return page

    return {"job_get": job_read, "jobs_get": job_list, "program_run": program_run}


def remember_service_answers(service: Any) -> None:
    """`remember_answers` for every connection a ``QiskitRuntimeService`` holds.

    The backend list each connection's instance answered while the service was built (the
    client keeps it) is remembered as that connection's fresh answer, so the
    ``service.backend(name)`` that follows does not list the backends a second time.
    """
    clients = getattr(service, "_api_clients", None)
    if isinstance(clients, Mapping):
        listed = getattr(service, "_backends_info_per_instance", None)
        for instance, connection in clients.items():
            remember_answers(connection)
            memory = getattr(connection, _MARK, None)
            if isinstance(memory, _Memory) and isinstance(listed, Mapping) and instance in listed:
                memory.fresh.seed(("backends", True), listed[instance])
    remember_answers(getattr(service, "_active_api_client", None))


def _memory_of(job: Any) -> _Memory | None:
    memory = getattr(getattr(job, "_api_client", None), _MARK, None)
    return memory if isinstance(memory, _Memory) else None


def final_document(job: Any) -> dict[str, Any] | None:
    """The final document of ``job`` its connection has seen, if any (no request)."""
    memory = _memory_of(job)
    return None if memory is None else memory.documents.final(str(job.job_id()))


def recent_document(job: Any, max_age: float) -> dict[str, Any] | None:
    """The document of ``job`` its connection read at most ``max_age`` seconds ago, if any."""
    memory = _memory_of(job)
    return None if memory is None else memory.documents.recent(str(job.job_id()), max_age)


def forget_fresh_answers() -> None:
    """Drop every remembered usage and backend-status answer (tests; after a limit change)."""
    with _memories_guard:
        memories = list(_memories)
    for memory in memories:
        memory.fresh.clear()


_state.register(
    "_runtime.answers._memories",
    holds="each remembering connection's fresh usage/backend answers and last job documents",
    bound=f"one per live service connection (weak); {MAX_DOCUMENTS} job documents each",
    reset=forget_fresh_answers,
)


__all__ = [
    "FLIGHT_WAIT",
    "FRESH_FOR",
    "MAX_DOCUMENTS",
    "final_document",
    "forget_fresh_answers",
    "is_final",
    "recent_document",
    "remember_answers",
    "remember_service_answers",
]
