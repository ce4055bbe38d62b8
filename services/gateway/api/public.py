"""Public routing: ``/public/<area>/<path>`` goes to the service owning that area, unchanged, with
no token (the routes are public by design; a caller's Authorization header is not passed on).
Requests here carry no verified principal, so the rate limiter counts them per client address."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import APIRouter, Request, Response

from services.gateway.api.proxy import forward, forward_headers
from services.gateway.upstream import Upstreams, get_upstreams
from shared.errors import NotFound

router = APIRouter(include_in_schema=False)

# Which service serves each public area (its routes live under the same /public/<area>/ path).
PUBLIC_AREAS = {"surveys": "survey", "feedback": "feedback", "plans": "appraisal"}


# An area's own root is a route too (``/public/plans`` lists the published plans).
@router.api_route("/public/{area}", methods=["GET", "HEAD", "POST"])
@router.api_route("/public/{area}/{path:path}", methods=["GET", "HEAD", "POST"])
async def public_proxy(area: str, request: Request, path: str = "") -> Response:
    """Route a public request to its service without a token."""
    service = PUBLIC_AREAS.get(area)
    raw_path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
    if service is None or any(unquote(segment) in {".", ".."} for segment in raw_path.split("/")):
        raise NotFound("No such public route.")
    upstreams: Upstreams = get_upstreams(request.app)
    headers = [(n, v) for n, v in forward_headers(request) if n.lower() != "authorization"]
    return await forward(request, upstreams, service, raw_path, headers)
