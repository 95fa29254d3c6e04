"""Request routing primitives shared by the route modules."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..errors import ApiError

if TYPE_CHECKING:
    from ..server import EmulatorApp


@dataclass
class Request:
    """A parsed HTTP request."""

    method: str
    path: str
    route_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Parse the body as JSON.

        Raises:
            ApiError: 400 if the body is not valid JSON.
        """
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"Malformed JSON body: {exc}") from None

    def json_object(self) -> dict[str, Any]:
        """Parse the body as a JSON object (an empty body is ``{}``).

        Raises:
            ApiError: 400 if the body is not a JSON object.
        """
        data = self.json()
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object")
        return data

    def form(self) -> dict[str, str]:
        """Parse a form-encoded body."""
        try:
            parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ApiError(400, "Malformed form body") from None
        return {k: v[-1] for k, v in parsed.items()}

    def arg(self, name: str) -> str | None:
        """Return the last value of a query parameter."""
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        """Return a header (case-insensitive)."""
        return self.headers.get(name.lower())


@dataclass
class Response:
    """A response to send."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        """Return the encoded body."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


Handler = Callable[["EmulatorApp", Request, dict[str, str]], Response]


@dataclass
class Route:
    """A method + path pattern bound to a handler."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str


@dataclass(frozen=True)
class Resolution:
    """The outcome of :meth:`Router.resolve`."""

    route: Route | None
    """The matched route; ``None`` when nothing matched the method and path."""
    params: dict[str, str]
    """Named groups of the route's pattern."""
    path_known: bool
    """Whether some route matched the path (with this or another method)."""


class Router:
    """An ordered list of routes; the first full match wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Register a handler for ``method`` and a full-match path ``pattern``.

        Named groups of the pattern are passed to the handler as a dict.
        """

        def decorator(func: Handler) -> Handler:
            self.routes.append(Route(method, re.compile(pattern), func, f"{method} {pattern}"))
            return func

        return decorator

    def resolve(self, method: str, path: str) -> Resolution:
        """Find the route for a request.

        Returns:
            The matching route and its path parameters, or a resolution without a
            route that tells whether the path exists for other methods.
        """
        path_known = False
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if route.method == method:
                return Resolution(route, match.groupdict(), path_known=True)
            path_known = True
        return Resolution(None, {}, path_known=path_known)
