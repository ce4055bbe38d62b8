"""The one pooled HTTP client the gateway uses to reach the services (REST routing and GraphQL)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import Counter

from shared.errors import NotFound

UPSTREAM_REQUESTS = Counter("govperf_gateway_upstream_requests_total", "Requests sent to services", ["service"])


class Upstreams:
    def __init__(
        self,
        base_urls: dict[str, str],
        client: httpx.AsyncClient,
        timeouts: dict[str, httpx.Timeout] | None = None,
    ) -> None:
        self.base_urls, self.client, self.timeouts = base_urls, client, timeouts or {}

    def timeout(self, service: str) -> httpx.Timeout:
        """The service's own timeout if it has one, else the client's default."""
        return self.timeouts.get(service, self.client.timeout)

    def url(self, service: str, path: str) -> str:
        """``url("indicator", "/api/v1/frameworks")``; an unknown service is a 404 to the caller."""
        base = self.base_urls.get(service)
        if base is None:
            raise NotFound(f"No service named {service!r}.")
        return base.rstrip("/") + path

    def count(self, service: str) -> None:
        UPSTREAM_REQUESTS.labels(service).inc()


def build_client(*, timeout: float, connect_timeout: float, max_connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        follow_redirects=False,
    )


def get_upstreams(app: FastAPI) -> Upstreams:
    upstreams: Upstreams = app.state.upstreams
    return upstreams


async def open_upstreams(app: FastAPI) -> None:
    settings = app.state.settings
    connect = settings.upstream_connect_timeout_seconds
    timeouts = {name: httpx.Timeout(seconds, connect=connect) for name, seconds in settings.upstream_timeouts.items()}
    client = build_client(
        timeout=settings.upstream_timeout_seconds,
        connect_timeout=connect,
        max_connections=settings.upstream_max_connections,
    )
    app.state.upstreams = Upstreams(settings.upstreams, client, timeouts)


async def close_upstreams(app: FastAPI) -> None:
    await app.state.upstreams.client.aclose()
