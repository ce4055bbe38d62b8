"""Fixtures of the GraphQL tests: the gateway in-process, its upstream calls served by the real
indicator app in-process, inside the same rolled-back transaction as the test's own REST calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.gateway.app import create_app
from services.gateway.config import Settings
from services.gateway.upstream import HttpxTransport
from shared.auth.devkeys import DevKeys
from shared.testing.plugin import Infra, client_for
from tests.indicator_svc.api.support import Api
from tests.indicator_svc.conftest import client, db, indicator_app  # noqa: F401

INDICATOR_URL = "http://indicator"


class OneAtATimeASGITransport(httpx.ASGITransport):
    """Every indicator request in a test shares the test's one rolled-back session, which cannot run
    two statements at once (in production each request has its own); the loaders' concurrent batches
    are therefore served one after another here. The body is read whole before the lock is released."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app=app, raise_app_exceptions=False)
        self._lock = asyncio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self._lock:
            return await super().handle_async_request(request)


def gateway_settings(infra: Infra, dev_keys: DevKeys, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        env="test",
        database_url=infra.database_url,
        nats_url=infra.nats_url,
        jwks_file=dev_keys.jwks_path,
        db_pool_size=2,
        run_relay=False,
        run_consumers=False,  # org-unit events are not what these tests are about
        upstreams={"indicator": INDICATOR_URL},
        # Tests send many requests from one address; limits are tested elsewhere.
        rate_limit_per_minute=1_000_000,
        rate_limit_burst=1_000_000,
    )
    return Settings(**(values | overrides))


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings, indicator: FastAPI) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pooled = app.state.upstreams.transport
        app.state.upstreams.transport = HttpxTransport(
            httpx.AsyncClient(mounts={INDICATOR_URL: OneAtATimeASGITransport(indicator)})
        )
        await pooled.close()
        yield app


@pytest.fixture(scope="session")
async def gateway(migrated: Infra, dev_keys: DevKeys, indicator_app: FastAPI) -> AsyncIterator[FastAPI]:  # noqa: F811
    async with running_gateway(gateway_settings(migrated, dev_keys), indicator_app) as app:
        yield app


@pytest.fixture(scope="session")
async def dev_gateway(migrated: Infra, dev_keys: DevKeys, indicator_app: FastAPI) -> AsyncIterator[FastAPI]:  # noqa: F811
    """The gateway as ``make run`` starts it: introspection, GraphiQL and unmasked errors."""
    async with running_gateway(gateway_settings(migrated, dev_keys, env="development"), indicator_app) as app:
        yield app


class Graph:
    """POSTs to one gateway's /graphql."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(self, query: str, headers: dict[str, str] | None = None, **variables: Any) -> httpx.Response:
        return await self.http.post("/graphql", json={"query": query, "variables": variables}, headers=headers or {})

    async def run(self, query: str, headers: dict[str, str], **variables: Any) -> dict[str, Any]:
        """The GraphQL answer body (``data`` and maybe ``errors``); GraphQL answers 200 even for errors."""
        response = await self.post(query, headers, **variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, headers: dict[str, str], **variables: Any) -> dict[str, Any]:
        body = await self.run(query, headers, **variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
async def graph(gateway: FastAPI, db: object) -> AsyncIterator[Graph]:  # noqa: F811
    async with client_for(gateway) as http:
        yield Graph(http)


@pytest.fixture
async def dev_graph(dev_gateway: FastAPI, db: object) -> AsyncIterator[Graph]:  # noqa: F811
    async with client_for(dev_gateway) as http:
        yield Graph(http)


@pytest.fixture
def api(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> Api:  # noqa: F811
    """The indicator service's REST API, called directly (office of /gd/sz by default)."""
    return Api(client, auth)


def upstream_calls() -> float:
    """Requests the gateway has sent to indicator_svc so far (its Prometheus counter)."""
    return REGISTRY.get_sample_value("govperf_gateway_upstream_requests_total", {"service": "indicator"}) or 0.0
