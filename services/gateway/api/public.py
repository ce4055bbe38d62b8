"""Public routing: ``/public/<area>/<path>`` goes to the service owning that area, unchanged, with
no token (the routes are public by design; a caller's Authorization header is not passed on).
Requests here carry no verified principal, so the rate limiter counts them per client address.

Response intake (``POST /public/surveys/responses``) is the platform's hottest route: it is a fast
route (``shared.middleware.FastRoutes``), a raw handler behind the same middleware (request id,
CORS, rate limit, body cap) without FastAPI's router and dependency machinery, which were more than
half of the gateway's CPU per response (measured in ``python -m bench survey``)."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from services.gateway.api.proxy import forward, forward_headers
from services.gateway.upstream import Upstreams, get_upstreams
from shared.errors import AppError, NotFound, send_problem
from shared.middleware import FastRoute

router = APIRouter(include_in_schema=False)

# Which service serves each public area (its routes live under the same /public/<area>/ path).
PUBLIC_AREAS = {"surveys": "survey", "feedback": "feedback", "plans": "appraisal"}
INTAKE_PATH = "/public/surveys/responses"
# A respondent's whole body must arrive within this: a client trickling it byte by byte would
# otherwise hold a connection and a task for as long as it likes.
BODY_SECONDS = 10.0


class RequestTimeout(AppError):
    status, code, title = 408, "request-timeout", "Request timeout"


# An area's own root is a route too (``/public/plans`` lists the published plans).
@router.api_route("/public/{area}", methods=["GET", "HEAD", "POST"])
@router.api_route("/public/{area}/{path:path}", methods=["GET", "HEAD", "POST"])
async def public_proxy(area: str, request: Request, path: str = "") -> Response:
    """Route a public request to its service without a token."""
    return await forward_public(request, area)


async def forward_public(request: Request, area: str) -> Response:
    service = PUBLIC_AREAS.get(area)
    raw_path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
    if service is None or any(unquote(segment) in {".", ".."} for segment in raw_path.split("/")):
        raise NotFound("No such public route.")
    upstreams: Upstreams = get_upstreams(request.app)
    headers = [(n, v) for n, v in forward_headers(request) if n.lower() != "authorization"]
    return await forward(request, upstreams, service, raw_path, headers)


async def submit_response(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /public/surveys/responses`` as a raw handler: the body is read whole (the body cap
    stands in front; a slow one is a 408), sent to survey_svc on the pooled connection, and its
    answer relayed; failures are problem+json as on every other route."""
    request = Request(scope, receive)
    try:
        async with asyncio.timeout(BODY_SECONDS):
            await request.body()  # kept on the request: forward() sends it from there
        response = await forward_public(request, "surveys")
    except ClientDisconnect:
        return  # the caller left, or the body cap answered 413 already: nobody is listening
    except TimeoutError:
        await send_problem(scope, send, RequestTimeout(f"The body did not arrive within {BODY_SECONDS:g} s."))
        return
    except AppError as exc:
        await send_problem(scope, send, exc)
        return
    await response(scope, receive, send)


FAST_ROUTES = [FastRoute("POST", INTAKE_PATH, submit_response)]
