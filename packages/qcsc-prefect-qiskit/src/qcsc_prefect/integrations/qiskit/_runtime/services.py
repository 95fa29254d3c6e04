"""Building the native ``QiskitRuntimeService`` and its backends, once per process.

The only module that reads a token's secret value. Every function here is a plain blocking call;
the tasks run them on the client pool (`pool`), each wait bounded.

Process-wide state: `_services` (one service per distinct configuration, keyed by
`service_cache_key`) and `_backends` (one backend per service and name). Both grow only with the
configurations and backend names a process uses; `clear_caches` empties them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import threading
import warnings
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from qiskit_ibm_runtime import QiskitRuntimeService

from .. import _state
from .._extras import require_extra
from ..errors import BackendNotFoundError, QCSCQiskitError, RuntimeConfigError
from .answers import remember_answers, remember_service_answers
from .post_attempts import watch_posts
from .translate import drop_http_exchanges, exception_chain, translating_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from qiskit.providers import BackendV2

    from ..blocks import QiskitRuntimeConfig

#: of the service cache key.
REDIRECTING_ENV_VARS: Final[tuple[str, ...]] = (
    "QISKIT_IBM_TOKEN",
    "QISKIT_IBM_URL",
    "QISKIT_IBM_INSTANCE",
    "QISKIT_IBM_CHANNEL",
    "IAM_URL",
    "GLOBAL_SEARCH_URL",
    "GLOBAL_CATALOG_URL",
    "QISKIT_FUNCTIONS_EXPERIMENTAL",
)

#: Config fields passed to ``QiskitRuntimeService`` (config field -> constructor argument).
_SERVICE_ARGUMENTS: Final[tuple[tuple[str, str], ...]] = (
    ("channel", "channel"),
    ("instance", "instance"),
    ("url", "url"),
    ("account_name", "name"),
    ("filename", "filename"),
    ("verify", "verify"),
    ("proxies", "proxies"),
    ("private_endpoint", "private_endpoint"),
    ("region", "region"),
    ("plans_preference", "plans_preference"),
)

#: How many backend names a "backend not found" message lists.
_SUGGESTED_BACKENDS: Final = 8

_K = TypeVar("_K")
_V = TypeVar("_V")


class _OncePerKey(Generic[_K, _V]):
    """A thread-safe memo: ``get(key, build)`` builds each value at most once while remembered.

    Builds for different keys run concurrently; a failed build is not remembered, so the next
    call tries again. Past ``limit`` values the oldest is forgotten (whoever holds it keeps
    using it; the next ``get`` of its key builds it again).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._values: dict[_K, _V] = {}
        self._locks: dict[_K, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: _K, build: Callable[[], _V]) -> _V:
        try:
            return self._values[key]
        except KeyError:
            pass
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            value = self._values.get(key)
            if value is None:
                value = self._values[key] = build()
                self._forget_oldest()
            return value

    def _forget_oldest(self) -> None:
        with self._guard:
            while len(self._values) > self._limit:
                oldest = next(iter(self._values))
                del self._values[oldest]
                self._locks.pop(oldest, None)

    def clear(self) -> None:
        with self._guard:
            self._values.clear()
            self._locks.clear()

    def __len__(self) -> int:
        return len(self._values)


#: How many services (distinct configurations) and backends one process remembers.
SERVICE_MEMORY: Final = 64
BACKEND_MEMORY: Final = 256

_services: _OncePerKey[str, Any] = _OncePerKey(SERVICE_MEMORY)
_backends: _OncePerKey[tuple[str, str], BackendV2] = _OncePerKey(BACKEND_MEMORY)
_state.register(
    "_runtime.services._services",
    holds="one QiskitRuntimeService per distinct configuration",
    bound=f"{SERVICE_MEMORY} configurations, oldest dropped first",
    reset=_services.clear,
)
_state.register(
    "_runtime.services._backends",
    holds="one backend per service and backend name",
    bound=f"{BACKEND_MEMORY} backends, oldest dropped first",
    reset=_backends.clear,
)


# --------------------------------------------------------------------------- services


def service_cache_key(config: QiskitRuntimeConfig) -> str:
    """Return the in-process cache key of the service ``config`` describes.

    It is a SHA-256 over every account field (the token's value included) and the values of
    `REDIRECTING_ENV_VARS`. ``backend_name`` is left out: it does not change the service, and
    backends are cached per service and name. The key never leaves the process.
    """
    fields: dict[str, object] = {}
    for name in type(config).model_fields:
        if name == "backend_name":
            continue
        value = getattr(config, name)
        if name == "token":
            value = None if value is None else value.get_secret_value()
        fields[name] = value
    material = {
        "fields": fields,
        "environment": {var: os.environ.get(var) for var in REDIRECTING_ENV_VARS},
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


def build_service(config: QiskitRuntimeConfig) -> Any:
    """Build a new native ``QiskitRuntimeService`` from ``config`` (uncached).

    Only the fields that are set are passed, so unset fields fall back to qiskit-ibm-runtime's
    own account discovery. ``channel="local"`` gives the offline ``QiskitRuntimeLocalService``.

    Args:
        config: The runtime configuration.

    Returns:
        The native service.

    Raises:
        RuntimeConfigError: The service could not be built. If the underlying error text
            contained the token, the text is redacted and the cause is not chained.
        RuntimeAuthError: The service rejected the credentials.
    """
    if config.channel == "local":
        require_extra("local")
        return QiskitRuntimeService(channel="local")
    kwargs: dict[str, Any] = {
        argument: getattr(config, field)
        for field, argument in _SERVICE_ARGUMENTS
        if getattr(config, field) is not None
    }
    secret = None if config.token is None else config.token.get_secret_value()
    if secret is not None:
        kwargs["token"] = secret
    service = call_keeping_secret_out(secret, lambda: _construct_service(kwargs))
    _instrument(service)
    return service


def _instrument(service: Any) -> None:
    """Give each connection of a new service its memory (`answers`) and post watch."""
    remember_service_answers(service)
    clients = getattr(service, "_api_clients", None)
    connections = list(clients.values()) if isinstance(clients, dict) else []
    for connection in [*connections, getattr(service, "_active_api_client", None)]:
        watch_posts(connection)


def _construct_service(kwargs: dict[str, Any]) -> Any:
    try:
        with translating_errors():
            return QiskitRuntimeService(**kwargs)
    except QCSCQiskitError:
        raise
    except Exception as exc:
        raise RuntimeConfigError(
            f"could not build a QiskitRuntimeService from the configuration: {exc}"
        ) from exc


def call_keeping_secret_out(secret: str | None, call: Callable[[], _V]) -> _V:
    """Return ``call()``; if it raises with ``secret`` in any error text, raise it redacted.

    The redacted error is a `RuntimeConfigError` raised outside the ``except`` block, so it
    has neither ``__cause__`` nor ``__context__``: nothing that prints or pickles the
    exception can reach the original text.
    """
    leaked: BaseException | None = None
    try:
        return call()
    except Exception as exc:
        drop_http_exchanges(exc)  # an IAM request's body holds the key
        if not secret or not any(secret in str(link) for link in exception_chain(exc)):
            raise
        leaked = exc
    assert secret is not None
    redacted = str(leaked).replace(secret, "**********")
    kind = type(leaked).__name__
    del leaked
    raise RuntimeConfigError(
        f"could not build a QiskitRuntimeService ({kind}): {redacted} "
        "[the original error is withheld because its text contained the token]"
    )


def cached_service(config: QiskitRuntimeConfig) -> Any:
    """Return the process-wide service for ``config``, building it on first use."""
    return _services.get(service_cache_key(config), lambda: build_service(config))


def cached_backend(config: QiskitRuntimeConfig) -> BackendV2:
    """Return the native backend ``config.backend_name``, cached per service and name.

    Raises:
        BackendNotFoundError: The name is unknown; the message lists some names that exist.
    """
    key = service_cache_key(config)
    service = _services.get(key, lambda: build_service(config))
    return _backends.get(
        (key, config.backend_name), lambda: lookup_backend(service, config.backend_name)
    )


def clear_caches() -> None:
    """Forget every cached service and backend (tests, or after rotating credentials)."""
    _backends.clear()
    _services.clear()


def lookup_backend(service: Any, backend_name: str) -> BackendV2:
    """Return ``service.backend(backend_name)``, explaining an unknown name.

    Args:
        service: A native ``QiskitRuntimeService`` (or the local service).
        backend_name: The backend to look up.

    Returns:
        The native backend.

    Raises:
        BackendNotFoundError: No such backend; the message lists up to eight that exist, the
            closest names first.
    """
    try:
        with translating_errors(), warnings.catch_warnings():
            # Local mode instantiates every fake backend to find one; some warn that their
            # properties are synthetic, which says nothing about the one asked for.
            warnings.filterwarnings("ignore", message="Properties of fake_", category=UserWarning)
            backend: BackendV2 = service.backend(backend_name)
            # IBMBackend fetches its properties lazily, on the first `target` access. Load them
            # here, on the client thread and under the error translation, instead of later in
            # input validation (on the event loop, where a 429 escaped untranslated).
            _ = backend.target
            remember_answers(getattr(backend, "_api_client", None))
            watch_posts(getattr(backend, "_api_client", None))
            return backend
    except BackendNotFoundError:
        pass
    available = _available_backend_names(service)
    close = difflib.get_close_matches(backend_name, available, n=3, cutoff=0.5)
    shown = tuple(dict.fromkeys([*close, *available]))[:_SUGGESTED_BACKENDS]
    where = "the local channel (fake backends)" if _is_local(service) else "this account"
    if shown:
        listing = f"Backends that exist include: {', '.join(shown)}"
        if len(available) > len(shown):
            listing += f" ({len(available)} in total)"
    else:
        listing = "The service listed no backends at all; check the instance and channel"
    raise BackendNotFoundError(
        f"backend '{backend_name}' was not found on {where}. {listing}.",
        backend_name=backend_name,
        available=shown,
    )


def _available_backend_names(service: Any) -> list[str]:
    try:
        with translating_errors(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Properties of fake_", category=UserWarning)
            return sorted(str(backend.name) for backend in service.backends())
    except Exception:  # the listing only decorates an error message
        return []


def _is_local(service: Any) -> bool:
    is_local = getattr(service, "is_local", False)
    return is_local is True


__all__ = [
    "REDIRECTING_ENV_VARS",
    "build_service",
    "cached_backend",
    "cached_service",
    "call_keeping_secret_out",
    "clear_caches",
    "lookup_backend",
    "service_cache_key",
]
