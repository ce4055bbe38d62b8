"""Prometheus metrics and the health endpoints every service exposes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

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


def health_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
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

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        refresh = getattr(request.app.state, "refresh_metrics", None)
        if refresh is not None:
            await refresh()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
