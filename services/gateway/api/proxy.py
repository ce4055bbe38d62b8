"""REST routing: ``/api/v1/<service>/<path>`` -> ``<service base>/api/v1/<path>``, streamed both ways."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from services.gateway.principal import optional_principal
from services.gateway.upstream import (
    UpstreamBroken,
    UpstreamFailure,
    Upstreams,
    UpstreamTimedOut,
    UpstreamUnreachable,
    get_upstreams,
)
from shared.errors import AppError, NotFound

log = logging.getLogger("govperf.gateway.proxy")

router = APIRouter(include_in_schema=False)

PREFIX = "/api/v1/"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# RFC 9110 7.6.1 connection-specific headers, plus those the gateway sets itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
# Client-supplied values would let a caller spoof its address or our request id to the services.
# "expect": our own server already answered 100-continue when the body was read.
REQUEST_DROP = HOP_BY_HOP | {
    "host",
    "x-request-id",
    "traceparent",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "expect",
}
# The gateway's own middleware and server add these; passing the upstream's would duplicate them.
RESPONSE_DROP = HOP_BY_HOP | {"x-request-id", "server", "date"}
TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class ServiceUnavailable(AppError):
    status, code, title = 503, "upstream-unavailable", "Service unavailable"


class UpstreamTimeout(AppError):
    status, code, title = 504, "upstream-timeout", "Service timed out"


class BadGateway(AppError):
    status, code, title = 502, "bad-gateway", "Bad gateway"


def traceparent(incoming: str | None) -> str:
    """Continue the caller's W3C trace with the gateway as a new span, or start a trace."""
    match = TRACEPARENT_RE.fullmatch((incoming or "").strip().lower())
    trace_id = match.group(1) if match and match.group(1) != "0" * 32 else secrets.token_hex(16)
    flags = match.group(3) if match else "01"
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


# End-to-end headers the services rely on: a client naming them in ``Connection`` must not make the
# gateway drop them (``Connection: authorization`` would otherwise forward the call anonymously
# after the gateway authenticated it).
NEVER_HOP_BY_HOP = frozenset({"authorization", "content-type", "if-match", "idempotency-key", "accept"})


def connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[str]:
    """Header names a ``Connection`` header declares hop-by-hop (never those above)."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
        if token.strip()
    } - NEVER_HOP_BY_HOP


def upstream_path(raw_path: str, service: str) -> str:
    """The still percent-encoded path after ``/api/v1/<service>``, as ``/api/v1/...`` upstream.

    Dot segments are refused: httpx normalizes them away, so ``/api/v1/x/../../metrics`` would
    reach the service's operational routes outside ``/api/v1``."""
    rest = raw_path.split("/", 4)[4] if raw_path.count("/") >= 4 else ""
    if any(unquote(segment) in {".", ".."} for segment in rest.split("/")):
        raise NotFound("No such route.")
    return PREFIX + rest


def forward_headers(request: Request) -> list[tuple[str, str]]:
    # From the scope directly: request.headers and request.url would each be built for one lookup.
    scope = request.scope
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    drop = REQUEST_DROP | connection_tokens(raw)
    headers, incoming_trace, host = [], None, ""
    for n, v in raw:
        name, value = n.decode("latin-1").lower(), v.decode("latin-1")
        if name == "traceparent" and incoming_trace is None:
            incoming_trace = value
        elif name == "host" and not host:
            host = value
        if name not in drop:
            headers.append((name, value))
    client = scope.get("client")
    headers += [
        ("x-request-id", str(scope.get("state", {}).get("request_id", ""))),
        ("traceparent", traceparent(incoming_trace)),
        # uvicorn's --proxy-headers already resolved trusted proxies into the client address.
        ("x-forwarded-for", client[0] if client else "unknown"),
        ("x-forwarded-proto", scope.get("scheme", "http")),
        ("x-forwarded-host", host),
    ]
    return headers


async def body_stream(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


async def proxy(request: Request) -> Response:
    """Route to a service. The principal is resolved only to refuse a bad token here (401); the
    token itself is forwarded and the service authorizes again."""
    service: str = request.path_params["service"]
    await optional_principal(request)
    upstreams: Upstreams = get_upstreams(request.app)
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    target = upstream_path(raw_path.decode("latin-1"), service)
    return await forward(request, upstreams, service, target, forward_headers(request))


async def forward(
    request: Request, upstreams: Upstreams, service: str, target: str, headers: list[tuple[str, str]]
) -> Response:
    """Send the request to ``service`` at ``target`` (the query string is added here) and relay
    its answer: buffered when small, streamed when large or of unknown length."""
    query = request.scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    try:
        # No body on the wire unless the caller sent one: a chunked empty GET confuses some servers.
        body = await request_body(request, upstreams.buffer_bytes)
        upstream = await upstreams.send(service, request.method, target, headers=headers, body=body)
    except UpstreamUnreachable as exc:
        log.warning("upstream %s unreachable: %s", service, exc)
        raise ServiceUnavailable(f"The {service} service is not reachable; try again shortly.") from None
    except UpstreamTimedOut as exc:
        log.warning("upstream %s timed out: %s", service, exc)
        raise UpstreamTimeout(f"The {service} service did not answer in time.") from None
    except UpstreamBroken as exc:
        log.warning("upstream %s failed: %s", service, exc)
        raise BadGateway(f"The {service} service gave no valid answer.") from None
    except ClientDisconnect:
        # The caller left (or the body cap answered 413 already): nobody is listening.
        return Response(status_code=499)
    answer_headers = response_headers(upstream.raw_headers, service, upstreams.url(service, ""))
    if upstream.body is not None:
        response = Response(upstream.body, status_code=upstream.status)
    else:
        assert upstream.chunks is not None
        response = StreamingResponse(
            relay_body(upstream.chunks, service),
            status_code=upstream.status,
            background=BackgroundTask(upstream.release),
        )
    # Raw (still encoded) bytes are relayed, so Content-Length and Content-Encoding stay true.
    response.raw_headers = answer_headers
    return response


async def request_body(request: Request, buffer_bytes: int) -> bytes | AsyncIterator[bytes] | None:
    """The caller's body: None without one, read whole when its declared length is small, else a
    stream (large uploads pass through without being held in memory)."""
    length = request.headers.get("content-length")
    if length is None and "transfer-encoding" not in request.headers:
        return None
    if length is not None and length.isdigit() and int(length) <= buffer_bytes:
        return await request.body()
    return body_stream(request)


def response_headers(raw: list[tuple[bytes, bytes]], service: str, service_base: str) -> list[tuple[bytes, bytes]]:
    drop = RESPONSE_DROP | connection_tokens(raw)
    headers = []
    for name, value in raw:
        lowered = name.lower()
        if lowered.decode("latin-1") in drop:
            continue
        if lowered in (b"location", b"content-location"):
            value = gateway_location(value.decode("latin-1"), service, service_base).encode("latin-1")
        headers.append((lowered, value))
    return headers


def gateway_location(value: str, service: str, service_base: str) -> str:
    """A service's ``/api/v1/x`` (relative, or absolute at its own address) as the gateway's
    ``/api/v1/<service>/x``: a client must never be sent to an address behind the gateway."""
    if service_base and value.startswith(service_base.rstrip("/") + "/"):
        value = value[len(service_base.rstrip("/")) :]
    if value.startswith(PREFIX):
        return f"{PREFIX}{service}/{value[len(PREFIX) :]}"
    return value


async def relay_body(chunks: AsyncIterator[bytes], service: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except UpstreamFailure as exc:
        # Headers are gone already: the only honest signal left is breaking the connection.
        log.warning("upstream %s broke off mid-body: %s", service, exc)
        raise


# A plain Starlette route, not a FastAPI one: the proxy takes no parameters worth validating, and
# dependency injection and response-model handling were a sixth of the gateway's CPU per request.
router.routes.append(Route("/api/v1/{service}/{path:path}", proxy, methods=METHODS, include_in_schema=False))
