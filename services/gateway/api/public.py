"""Public routing: ``/public/<area>/<path>`` goes to the service owning that area, unchanged, with
no token (the routes are public by design; a caller's Authorization header is not passed on).
Requests here carry no verified principal, so the rate limiter counts them per client address.

Response intake (``POST /public/surveys/responses``) is the platform's hottest route: it is a fast
route (``shared.middleware.FastRoutes``), a raw handler behind the same middleware (request id,
CORS, rate limit, body cap) without FastAPI's router and dependency machinery, which were more than
half of the gateway's CPU per response, and its JSON submissions travel to survey_svc in batches,
since the HTTP client was most of the rest (measured in ``python -m bench survey``)."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.types import Message, Receive, Scope, Send

from contracts.intake_batch import MAX_COOKIE, IntakeItem
from services.gateway.api.proxy import forward, forward_headers
from services.gateway.intake import MAX_BATCHED_BODY, IntakeRelay, ServiceToken
from services.gateway.upstream import Upstreams, get_upstreams
from shared.errors import AppError, NotFound, send_problem
from shared.middleware import FastRoute, read_body

router = APIRouter(include_in_schema=False)

# Which service serves each public area (its routes live under the same /public/<area>/ path).
PUBLIC_AREAS = {"surveys": "survey", "feedback": "feedback", "plans": "appraisal"}
INTAKE_PATH = "/public/surveys/responses"


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
    stands in front; a slow one is a 408); a small JSON one goes to survey_svc in the next intake
    batch (``services.gateway.intake``), anything else on its own; failures are problem+json as on
    every other route."""
    seconds = scope["app"].state.settings.intake_body_timeout_seconds
    first = await receive()  # a small body came with the head: no timer needed (most submissions)
    body: bytes | None
    if first["type"] == "http.request" and not first.get("more_body", False):
        body = first.get("body", b"")
    else:
        try:
            async with asyncio.timeout(seconds):
                body = await read_body(replay_first(first, receive))
        except TimeoutError:
            await send_problem(scope, send, RequestTimeout(f"The body did not arrive within {seconds:g} s."))
            return
    if body is None:
        return  # the caller left, or the body cap answered 413 already: nobody is listening
    relay: IntakeRelay | None = getattr(scope["app"].state, "intake_relay", None)
    cookie = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"cookie"), "")
    if relay is not None and len(body) <= MAX_BATCHED_BODY and len(cookie) <= MAX_COOKIE and is_json(scope):
        state = scope.get("state", {})
        outcome = await relay.submit(IntakeItem(str(state.get("request_id", "")), cookie, body))
        if isinstance(outcome, AppError):
            await send_problem(scope, send, outcome)
            return
        if outcome is not None:
            headers = [
                (b"content-type", outcome.media_type.encode()),
                (b"content-length", str(len(outcome.body)).encode()),
            ]
            await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
            await send({"type": "http.response.body", "body": outcome.body})
            return
    try:
        response = await forward_public(Request(scope, replay(body)), "surveys")
    except AppError as exc:
        await send_problem(scope, send, exc)
        return
    await response(scope, receive, send)


def replay_first(first: Message, receive: Receive) -> Receive:
    """``receive`` with ``first`` (a message already taken from it) given again first."""
    pending = [first]

    async def receive_again() -> Message:
        return pending.pop() if pending else await receive()

    return receive_again


def replay(body: bytes) -> Receive:
    """A receive that gives the body already read once, then says the caller left."""
    messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return messages.pop() if messages else {"type": "http.disconnect"}

    return receive


def is_json(scope: Scope) -> bool:
    value = next((v for n, v in scope["headers"] if n == b"content-type"), b"")
    return value.split(b";")[0].strip().lower() == b"application/json"


async def start_intake_relay(app: FastAPI) -> None:
    in_flight = app.state.settings.intake_batches_in_flight
    app.state.intake_relay = IntakeRelay(get_upstreams(app), ServiceToken(app), in_flight=in_flight)
    app.state.intake_relay.start()


async def stop_intake_relay(app: FastAPI) -> None:
    await app.state.intake_relay.stop()


FAST_ROUTES = [FastRoute("POST", INTAKE_PATH, submit_response)]
