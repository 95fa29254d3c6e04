"""The HTTP server, the application state behind it, and :class:`RuntimeEmulator`."""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypedDict, Unpack
from urllib.parse import parse_qs, urlsplit

from . import execution  # noqa: F401 - imports qiskit in the thread that starts the server
from .client import EmulatorControl
from .codec import token_secret, verify_jwt
from .defaults import CONTROL_PREFIX, DEFAULT_API_KEY, DEFAULT_INSTANCE, RUNTIME_PREFIXES
from .errors import ApiError, cloud_error_body
from .execution import NOISE_MODES, BackendCatalog, Executor
from .faults import Fault, FaultRegistry
from .routes import Request, Response, Router
from .routes.auth import router as auth_router
from .routes.control import router as control_router
from .routes.runtime import router as runtime_router
from .state import StateStore

logger = logging.getLogger(__name__)

LOG_LIMIT = 5000
RUNTIME_PATH_SUFFIX = "/experimental/api/v1"


class AppSettings(TypedDict, total=False):
    """The `EmulatorApp` settings `RuntimeEmulator` passes on by keyword (see `RuntimeEmulator`)."""

    run_delay: float
    backends: dict[str, str] | None
    latency: float
    usage_limit_seconds: float | None
    usage_consumed_seconds: float


class EmulatorApp:
    """Everything a request handler needs: state, faults, executor and configuration.

    Args:
        api_key: Accepted API key.
        instance: Served service CRN.
        state_dir: Persistence directory, or ``None`` for memory only.
        noise: Initial noise mode.
        queue_delay: Seconds a job stays Queued at least.
        run_delay: Seconds a job stays Running at least.
        backends: Real name -> fake-provider class name (default: fez, torino, manila).
        latency: Seconds added before answering each service request (IAM, search,
            catalog and Runtime; never the control API), to model a remote service.
        usage_limit_seconds: The instance's usage limit, or ``None`` for none.
        usage_consumed_seconds: Seconds the instance had consumed before the emulator's jobs.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        instance: str = DEFAULT_INSTANCE,
        state_dir: str | os.PathLike[str] | None = None,
        noise: str = "none",
        queue_delay: float = 0.0,
        run_delay: float = 0.0,
        backends: dict[str, str] | None = None,
        latency: float = 0.0,
        usage_limit_seconds: float | None = None,
        usage_consumed_seconds: float = 0.0,
    ) -> None:
        if noise not in NOISE_MODES:
            raise ValueError(f"noise must be one of {NOISE_MODES}, not {noise!r}")
        self.api_key = api_key
        self.instance = instance
        self.secret = token_secret(api_key)
        self.url = ""
        self.initial_config: dict[str, Any] = {
            "queue_delay": float(queue_delay),
            "run_delay": float(run_delay),
            "latency": float(latency),
            "noise": noise,
            "paused": False,
            "usage_limit_seconds": usage_limit_seconds,
            "usage_consumed_seconds": float(usage_consumed_seconds),
        }
        self.config: dict[str, Any] = dict(self.initial_config)
        self.store = StateStore(state_dir)
        self.catalog = BackendCatalog(backends)
        self.faults = FaultRegistry()
        self.executor = Executor(self.store, self.catalog, self.config)
        self._log: collections.deque[dict[str, Any]] = collections.deque(maxlen=LOG_LIMIT)
        self._log_lock = threading.Lock()

    # log -------------------------------------------------------------------------
    def record(self, entry: dict[str, Any]) -> None:
        """Append a request-log entry."""
        with self._log_lock:
            self._log.append(entry)

    def request_log(self) -> list[dict[str, Any]]:
        """Return a copy of the request log."""
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Empty the request log."""
        with self._log_lock:
            self._log.clear()

    def reset(self) -> None:
        """Wipe jobs, sessions, faults and the log; restore the initial configuration."""
        self.faults.clear()
        self.store.reset()
        self.config.clear()
        self.config.update(self.initial_config)
        self.clear_log()
        self.executor.wake()

    # routing ---------------------------------------------------------------------
    @staticmethod
    def split_path(path: str) -> tuple[str, str]:
        """Classify a path: returns ``(kind, route_path)``.

        ``kind`` is ``runtime`` (prefix stripped), ``control`` (prefix stripped) or
        ``other`` (IAM, search, catalog; path unchanged).
        """
        for prefix in RUNTIME_PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                return "runtime", path[len(prefix) :] or "/"
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return "control", path[len(CONTROL_PREFIX) :] or "/"
        return "other", path

    def check_runtime_auth(self, req: Request) -> None:
        """Authenticate a runtime call like the service.

        Raises:
            ApiError: 401 without valid credentials, 400 without ``Service-CRN``,
                403 for another instance's CRN.
        """
        auth = req.header("authorization") or ""
        ok = (auth.startswith("Bearer ") and verify_jwt(self.secret, auth[7:])) or (
            auth.startswith("apikey ") and auth[7:] == self.api_key
        )
        if not ok:
            raise ApiError(401, "Unauthorized: invalid or missing access token.", "unauthorized")
        crn = req.header("service-crn")
        if not crn:
            raise ApiError(400, "The Service-CRN header is required.", "missing_crn")
        if crn != self.instance:
            raise ApiError(403, f"You are not authorized to access instance {crn}.", "forbidden")

    def dispatch(self, req: Request, kind: str) -> tuple[Response, bool]:
        """Route a request.

        Args:
            req: The parsed request.
            kind: ``runtime``, ``control`` or ``other`` (see :meth:`split_path`).

        Returns:
            The response, and whether the request reached a known endpoint (a
            path that no route matches is unknown; one served for other methods
            only is known and answered with 405).
        """
        resolution = _ROUTERS.get(kind, auth_router).resolve(req.method, req.route_path)
        if resolution.route is None:
            if resolution.path_known:
                message = f"Method {req.method} not allowed for {req.path}"
                return Response(405, cloud_error_body(405, message)), True
            message = f"Unknown endpoint: {req.method} {req.path}"
            return Response(404, cloud_error_body(404, message, "not_found")), False
        try:
            if kind == "runtime":
                self.check_runtime_auth(req)
            return resolution.route.handler(self, req, resolution.params), True
        except ApiError as exc:
            return Response(exc.status, exc.body(), headers=exc.headers), True
        except Exception as exc:  # malformed input must never crash the server
            logger.exception("Error handling %s %s", req.method, req.path)
            return Response(500, cloud_error_body(500, f"Internal emulator error: {exc}")), True


_ROUTERS: dict[str, Router] = {"runtime": runtime_router, "control": control_router}


_FAULTS_BEFORE = frozenset({"delay", "status", "reset"})
_FAULTS_AFTER = frozenset({"create_then_status", "create_then_reset", "create_then_delay"})


def _fault_response(action: dict[str, Any], status: int) -> Response:
    """The answer of a ``status`` or ``create_then_status`` fault."""
    body = action.get("body", cloud_error_body(status, "Injected fault"))
    headers = {k: str(v) for k, v in action.get("headers", {}).items()}
    return Response(status, body, headers=headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: EmulatorApp) -> None:
        self.app = app
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        self.stopping = False
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients dropping connections is normal (resets, retries): no stderr noise.
        logger.debug("Connection error from %s", client_address, exc_info=True)

    def close_all(self) -> None:
        """Drop every open (keep-alive) connection."""
        with self.sockets_lock:
            sockets = list(self.open_sockets)
            self.open_sockets.clear()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm the body would wait
    # for the client's delayed ACK (~40 ms on Linux), an accidental latency on every answer.
    disable_nagle_algorithm = True
    server: _Server
    server_version = "qcsc-runtime-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)

    def _handle(self) -> None:
        app = self.server.app
        entry, req = self._read_request()
        if req is None:
            self.close_connection = True
            resp = Response(400, cloud_error_body(400, "Invalid Content-Length"))
            self._finish(entry, resp, known=True)
            return
        self._model_latency(entry)
        fault = self._match_fault(req, entry)
        if fault is not None and fault.kind in _FAULTS_BEFORE:
            if self._fault_before(fault, entry):
                return
        resp, known = app.dispatch(req, entry["kind"])
        if fault is not None and fault.kind in _FAULTS_AFTER:
            entry["inner_status"] = resp.status
            if fault.kind == "create_then_reset":
                self._drop(entry)
                return
            if fault.kind == "create_then_delay":
                time.sleep(float(fault.action["create_then_delay"]))
            else:
                resp = _fault_response(fault.action, int(fault.action["create_then_status"]))
        self._finish(entry, resp, known=known)

    def _read_request(self) -> tuple[dict[str, Any], Request | None]:
        """Parse the request line, headers and body; ``None`` for a bad Content-Length."""
        split = urlsplit(self.path)
        kind, route_path = self.server.app.split_path(split.path)
        entry: dict[str, Any] = {
            "method": self.command,
            "path": split.path,
            "route_path": route_path,
            "query": split.query,
            "kind": kind,
            "time": time.time(),
        }
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return entry, None
        if length < 0:
            return entry, None
        req = Request(
            method=self.command,
            path=split.path,
            route_path=route_path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length > 0 else b"",
        )
        return entry, req

    def _model_latency(self, entry: dict[str, Any]) -> None:
        """Wait the configured ``latency`` before serving a service request."""
        latency = float(self.server.app.config.get("latency") or 0.0)
        if latency > 0 and entry["kind"] != "control":
            time.sleep(latency)

    def _match_fault(self, req: Request, entry: dict[str, Any]) -> Fault | None:
        """Consume the fault for this request, if any (the control API is never faulted)."""
        kind = entry["kind"]
        if kind == "control" or self.server.stopping:
            return None
        fault = self.server.app.faults.match(
            req.method, req.route_path if kind == "runtime" else req.path
        )
        if fault is not None:
            entry["fault"] = fault.id
        return fault

    def _fault_before(self, fault: Fault, entry: dict[str, Any]) -> bool:
        """Apply a fault that acts before the request is served; True if it answered."""
        if fault.kind == "delay":
            time.sleep(float(fault.action["delay"]))
            return False
        if fault.kind == "reset":
            self._drop(entry)
            return True
        self._finish(entry, _fault_response(fault.action, int(fault.action["status"])), known=True)
        return True

    def _drop(self, entry: dict[str, Any]) -> None:
        entry["status"] = -1
        entry["duration_ms"] = round((time.time() - entry["time"]) * 1000, 2)
        entry["known"] = True
        self.server.app.record(entry)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _finish(self, entry: dict[str, Any], resp: Response, *, known: bool) -> None:
        """Log the request, then answer it.

        Logging first means a client that has its answer always finds the request
        in the log (``duration_ms`` therefore excludes sending the answer).
        """
        payload = resp.payload()
        entry["status"] = resp.status
        entry["known"] = known
        entry["duration_ms"] = round((time.time() - entry["time"]) * 1000, 2)
        self.server.app.record(entry)
        self.send_response(resp.status)
        if resp.body is not None:
            self.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def _guarded(self) -> None:
        try:
            self._handle()
        except (ConnectionError, BrokenPipeError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("Unhandled error in request handler")
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _guarded


class RuntimeEmulator:
    """A local Qiskit Runtime service, served from a daemon thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. A new
    instance with the same ``port`` and ``state_dir`` behaves like a restarted
    service: finished jobs stay fetchable and in-flight jobs are re-queued.

    Args:
        host: Interface to bind (loopback by default).
        port: TCP port; 0 picks a free one.
        state_dir: Directory to persist jobs, results and sessions; ``None`` keeps
            state in memory.
        noise: ``none`` (noiseless), ``reduced`` (device noise on the job's qubits)
            or ``device`` (full device noise; slow on Heron devices).
        queue_delay: Seconds every job stays Queued at least.
        api_key: API key accepted by the emulated IAM.
        instance: Service CRN of the emulated instance.
        **settings: Keyword-only `AppSettings`: ``run_delay`` (seconds every job stays Running
            at least), ``backends`` (real device name -> fake-provider class name),
            ``latency`` (seconds added before answering each service request, to model the
            round trip to a remote service; the control API answers at once),
            ``usage_limit_seconds`` (the instance's usage limit, ``GET /instances/usage``;
            ``None`` for none; queued jobs wait while it is reached) and
            ``usage_consumed_seconds`` (seconds consumed before the emulator's jobs).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: str | os.PathLike[str] | None = None,
        noise: str = "none",
        queue_delay: float = 0.0,
        api_key: str = DEFAULT_API_KEY,
        instance: str = DEFAULT_INSTANCE,
        **settings: Unpack[AppSettings],
    ) -> None:
        self.host = host
        self._requested_port = port
        self.app = EmulatorApp(
            api_key=api_key,
            instance=instance,
            state_dir=state_dir,
            noise=noise,
            queue_delay=queue_delay,
            **settings,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------
    def start(self) -> RuntimeEmulator:
        """Bind the port and start serving in a daemon thread.

        Returns:
            ``self``.
        """
        if self._server is not None:
            return self
        server = _Server((self.host, self._requested_port), self.app)
        self._server = server
        self.app.url = self.url
        self.app.executor.start()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="qcsc-emulator-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and join the worker threads."""
        server = self._server
        if server is None:
            return
        server.stopping = True
        server.shutdown()
        server.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self.app.executor.stop()
        self._server = None
        self._thread = None

    def __enter__(self) -> RuntimeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("The emulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def runtime_url(self) -> str:
        """Runtime API URL used verbatim by the client (contains ``experimental``)."""
        return self.url + RUNTIME_PATH_SUFFIX

    @property
    def control(self) -> EmulatorControl:
        """A control-API client bound to this emulator."""
        return EmulatorControl(self.url)

    # client configuration ------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment variables that point an unmodified client at the emulator.

        Setting these alone makes a bare ``QiskitRuntimeService()`` reach it: they
        redirect IAM (``IAM_URL``), instance discovery (``GLOBAL_SEARCH_URL``,
        ``GLOBAL_CATALOG_URL``) and the runtime API (``QISKIT_IBM_URL``), and give
        the credentials. They are process-wide; in tests apply them with
        ``monkeypatch.setenv`` (the ``runtime_emulator`` fixture does this).
        """
        return {
            "IAM_URL": self.url,
            "GLOBAL_SEARCH_URL": f"{self.url}/gs",
            "GLOBAL_CATALOG_URL": f"{self.url}/gc/api/v1",
            "QISKIT_IBM_TOKEN": self.app.api_key,
            "QISKIT_IBM_URL": self.runtime_url,
            "QISKIT_IBM_INSTANCE": self.app.instance,
            "QISKIT_IBM_CHANNEL": "ibm_quantum_platform",
        }

    def service_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``QiskitRuntimeService(**kwargs)``.

        IAM and instance discovery are only redirected by the environment, so the
        variables of :meth:`env` (at least ``IAM_URL``, ``GLOBAL_SEARCH_URL``,
        ``GLOBAL_CATALOG_URL``) must be set too.
        """
        return {
            "channel": "ibm_quantum_platform",
            "token": self.app.api_key,
            "url": self.runtime_url,
            "instance": self.app.instance,
        }

    def service(self) -> Any:
        """Return ``QiskitRuntimeService(**self.service_kwargs())``.

        Nothing is applied globally: the variables of :meth:`env` must already be
        set in this process (e.g. by the ``runtime_emulator`` fixture).
        """
        from qiskit_ibm_runtime import QiskitRuntimeService

        return QiskitRuntimeService(**self.service_kwargs())

    def reset(self) -> None:
        """Wipe jobs, sessions, faults and the request log."""
        self.app.reset()

    def describe(self) -> dict[str, Any]:
        """The JSON document ``qcsc-runtime-emulator serve`` prints."""
        return {
            "url": self.url,
            "runtime_url": self.runtime_url,
            "control_url": self.url + CONTROL_PREFIX,
            "service_kwargs": self.service_kwargs(),
            "env": self.env(),
            "noise": self.app.config["noise"],
            "state_dir": None
            if self.app.store.state_dir is None
            else str(self.app.store.state_dir),
        }

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"RuntimeEmulator({where})"


def dumps_line(data: dict[str, Any]) -> str:
    """Serialize a document on one line."""
    return json.dumps(data, separators=(",", ":"))
