"""Public routing: ``/public/<area>/<path>`` goes to the service owning that area, unchanged, with
no token (the routes are public by design; a caller's Authorization header is not passed on).
Requests here carry no verified principal, so the rate limiter counts them per client address."""

from __future__ import annotations

import logging
from urllib.parse import unquote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from services.gateway.api.proxy import (
    RESPONSE_DROP,
    BadGateway,
    UpstreamTimeout,
    UpstreamUnavailable,
    body_stream,
    connection_tokens,
    forward_headers,
    has_body,
    relay_body,
)
from services.gateway.upstream import Upstreams, get_upstreams
from shared.errors import NotFound

log = logging.getLogger("govperf.gateway.public")

router = APIRouter(include_in_schema=False)

# Which service serves each public area (its routes live under the same /public/<area>/ path).
PUBLIC_AREAS = {"surveys": "survey", "feedback": "feedback"}


@router.api_route("/public/{area}/{path:path}", methods=["GET", "HEAD", "POST"])
async def public_proxy(area: str, path: str, request: Request) -> Response:
    """Route a public request to its service without a token."""
    service = PUBLIC_AREAS.get(area)
    raw_path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
    if service is None or any(unquote(segment) in {".", ".."} for segment in raw_path.split("/")):
        raise NotFound("No such public route.")
    upstreams: Upstreams = get_upstreams(request.app)
    headers = [(n, v) for n, v in forward_headers(request) if n.lower() != "authorization"]
    upstream_request = upstreams.client.build_request(
        request.method,
        httpx.URL(upstreams.url(service, raw_path), query=request.scope.get("query_string", b"")),
        headers=headers,
        timeout=upstreams.timeout(service),
        content=body_stream(request) if has_body(request) else None,
    )
    upstreams.count(service)
    try:
        upstream = await upstreams.client.send(upstream_request, stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
        raise UpstreamUnavailable(f"The {service} service is not reachable; try again shortly.") from None
    except httpx.TimeoutException:
        raise UpstreamTimeout(f"The {service} service did not answer in time.") from None
    except httpx.HTTPError as exc:
        log.warning("upstream %s failed: %r", service, exc)
        raise BadGateway(f"The {service} service gave no valid answer.") from None
    drop = RESPONSE_DROP | connection_tokens(upstream.headers.raw)
    response = StreamingResponse(
        relay_body(upstream, service), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose)
    )
    response.raw_headers = [(n.lower(), v) for n, v in upstream.headers.raw if n.decode("latin-1").lower() not in drop]
    return response
