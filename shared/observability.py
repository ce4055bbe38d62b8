"""Prometheus metrics and the health endpoints every service exposes."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import logging.handlers
import queue
import sys
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from shared.errors import NotFound

REQUESTS = Counter("govperf_http_requests_total", "HTTP requests", ["method", "status"])
LATENCY = Histogram("govperf_http_request_seconds", "HTTP request latency", ["method"])
OUTBOX_BACKLOG = Gauge("govperf_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_PARKED = Gauge("govperf_outbox_parked", "Outbox rows parked after their attempt cap", ["service"])
OUTBOX_PUBLISHED = Counter("govperf_outbox_published_total", "Events published by the relay", ["service"])
OUTBOX_PUBLISH_FAILURES = Counter("govperf_outbox_publish_failures_total", "Failed publishes", ["service"])
CONSUMED = Counter("govperf_events_consumed_total", "Events applied by consumers", ["service", "type"])
STALE_EVENTS = Counter(
    "govperf_events_stale_total", "Events skipped as older than one already applied", ["service", "consumer"]
)
DEAD_LETTERS = Counter("govperf_dead_letters_total", "Events moved to dead_letter", ["service", "consumer"])

ReadinessCheck = Callable[[], Awaitable[None]]


class OpsAccess:
    """The production rule for /readyz and /metrics: a configured network or the scrape token."""

    def __init__(self, networks: list[str], token: str | None) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self.token = token.encode() if token else None

    def allows(self, address: str | None, authorization: str | None) -> bool:
        if self.token is not None and authorization is not None:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self.token):
                return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


async def require_ops_access(request: Request) -> None:
    settings = request.app.state.settings
    if settings.env != "production":
        return
    access: OpsAccess | None = getattr(request.app.state, "ops_access", None)
    if access is None:
        token = settings.ops_token.get_secret_value() if settings.ops_token is not None else None
        access = request.app.state.ops_access = OpsAccess(settings.ops_networks, token)
    address = request.client.host if request.client else None
    if not access.allows(address, request.headers.get("authorization")):
        # 404, as for any route that is not there for this caller: nothing to learn or probe.
        raise NotFound()


def health_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    """/healthz (liveness, open), /readyz and /metrics (production: ops networks or token only)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", dependencies=[Depends(require_ops_access)])
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception:  # noqa: BLE001 - readiness reports, it does not raise
                results[name] = "unavailable"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": results}, status_code=200 if ready else 503
        )

    @router.get("/metrics", dependencies=[Depends(require_ops_access)])
    async def metrics(request: Request) -> Response:
        refresh = getattr(request.app.state, "refresh_metrics", None)
        if refresh is not None:
            await refresh()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def configure_logging(level: str, *, prefix: str = "") -> Callable[[], None]:
    """Root logging through a queue: a request only enqueues its record, and one thread writes
    the lines to stderr. Returns the function that flushes and stops the writer."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(logging.Formatter(prefix.replace("%", "%%") + "%(message)s"))
    listener = logging.handlers.QueueListener(records, writer, respect_handler_level=False)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.handlers.QueueHandler):
            root.removeHandler(handler)  # a second app in the same process (tests) replaces the first
    handler = logging.handlers.QueueHandler(records)
    root.addHandler(handler)
    root.setLevel(level)
    listener.start()

    def stop() -> None:
        root.removeHandler(handler)
        listener.stop()

    return stop
