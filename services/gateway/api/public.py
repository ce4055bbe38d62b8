"""Public routing: ``/public/<area>/<path>`` goes to the service owning that area, unchanged, with
no token (the routes are public by design; a caller's Authorization header is not passed on).
Requests here carry no verified principal, so the rate limiter counts them per client address."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from services.gateway.api.proxy import (
    RESPONSE_DROP,
    BadGateway,
    ServiceUnavailable,
    UpstreamTimeout,
    connection_tokens,
    forward_headers,
    relay_body,
    request_body,
)
from services.gateway.upstream import UpstreamBroken, Upstreams, UpstreamTimedOut, UpstreamUnreachable, get_upstreams
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
    query = request.scope.get("query_string", b"")
    target = raw_path + ("?" + query.decode("latin-1") if query else "")
    try:
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
    drop = RESPONSE_DROP | connection_tokens(upstream.raw_headers)
    kept = [(n.lower(), v) for n, v in upstream.raw_headers if n.decode("latin-1").lower() not in drop]
    response: Response
    if upstream.body is not None:
        response = Response(upstream.body, status_code=upstream.status)
    else:
        assert upstream.chunks is not None
        response = StreamingResponse(
            relay_body(upstream.chunks, service),
            status_code=upstream.status,
            background=BackgroundTask(upstream.release),
        )
    response.raw_headers = kept
    return response
