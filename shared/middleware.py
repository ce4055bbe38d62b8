"""Pure ASGI middleware (no BaseHTTPMiddleware): request id, JSON access log, body size cap, and
fast routes (raw handlers in front of the router)."""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.observability import LATENCY, REQUESTS

access_log = logging.getLogger("govperf.access")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


# A metric's child per label values, looked up once: labels() takes a lock and builds a key on every
# call. The values are bounded: uvicorn's parser knows a fixed set of methods, and statuses are ints.
@functools.lru_cache(maxsize=512)
def _requests(method: str, status: int) -> Counter:
    return REQUESTS.labels(method, str(status))


@functools.lru_cache(maxsize=64)
def _latency(method: str) -> Histogram:
    return LATENCY.labels(method)


class RequestContextMiddleware:
    """Accept a sane ``X-Request-ID`` or make one, echo it, log one JSON line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            _requests(scope["method"], status).inc()
            _latency(scope["method"]).observe(elapsed)
            if scope["path"] not in QUIET_PATHS and access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "request_id": request_id,
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                            "subject": scope["state"].get("subject"),
                        }
                    )
                )


class BodySizeLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._reject(send)
            return
        received = 0
        response_started = rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answer 413 ourselves and tell the app the client left: frameworks turn an
                    # exception raised here into a generic 400.
                    if not response_started and not rejected:
                        rejected = True
                        await self._reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if rejected:
                return
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "urn:govperf:problem:payload-too-large",
                "title": "Payload too large",
                "status": 413,
                "detail": f"Request bodies are limited to {self.max_bytes} bytes.",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body of a raw ASGI route, or None when the caller left (or a body cap in
    front answered 413 already)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body)


@dataclass(frozen=True)
class FastRoute:
    """A raw ASGI ``handler`` for one exact method and path, taken when ``accepts(scope)`` says so
    (else the request goes the usual way, through the router)."""

    method: str
    path: str
    handler: ASGIApp
    accepts: Callable[[Scope], bool] = lambda scope: True


class FastRoutes:
    """Outermost: a request for a fast route skips FastAPI's router, dependency injection and
    exception middleware (most of a small request's CPU) and runs through ``middleware`` (the
    app's own stack: request id, access log, edge limits, body cap) straight into its handler,
    which answers its errors itself. Every other request goes on to ``app`` unchanged."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[FastRoute], middleware: Sequence[Middleware]) -> None:
        self.app = app
        self.routes: Mapping[tuple[str, str], tuple[FastRoute, ASGIApp]] = {
            (route.method, route.path): (route, _wrapped(route.handler, middleware)) for route in routes
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self.routes.get((scope["method"], scope["path"]))
            if found is not None and found[0].accepts(scope):
                await found[1](scope, receive, send)
                return
        await self.app(scope, receive, send)


def _wrapped(handler: ASGIApp, middleware: Sequence[Middleware]) -> ASGIApp:
    app = handler
    for cls, args, kwargs in reversed(middleware):  # as Starlette builds its stack: first is outermost
        app = cls(app, *args, **kwargs)
    return app
