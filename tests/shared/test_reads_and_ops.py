"""Session-free reads survive a dropped connection; /readyz and /metrics are closed in production
except to the configured networks or the scrape token."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shared.config import BaseServiceSettings
from shared.db import create_engine
from shared.errors import install_error_handlers
from shared.observability import health_router
from shared.reads import ReadStatement, open_read_pool, pool_reader
from shared.testing.plugin import Infra

BACKEND_PID = ReadStatement(select(func.pg_backend_pid().label("pid")))


async def test_a_read_on_a_connection_the_server_dropped_is_retried_on_a_new_one(migrated: Infra) -> None:
    engine = create_engine(migrated.database_url, pool_size=1)
    pool = await open_read_pool(engine, max_size=1)
    try:
        reader = pool_reader(pool)
        first = await reader.one(BACKEND_PID)
        assert first is not None
        killer = await asyncpg.connect(migrated.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", first["pid"])
        finally:
            await killer.close()
        second = await reader.one(BACKEND_PID)  # no pre-ping: the dead connection fails once, quietly
        assert second is not None and second["pid"] != first["pid"]
    finally:
        await pool.close()
        await engine.dispose()


def ops_app(**settings: object) -> FastAPI:
    app = FastAPI()
    app.state.settings = BaseServiceSettings(**settings)  # type: ignore[arg-type]
    install_error_handlers(app)

    async def ready() -> None:
        return None

    app.include_router(health_router({"database": ready}))
    return app


async def get(
    app: FastAPI, path: str, client: tuple[str, int], headers: dict[str, str] | None = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        return await http.get(path, headers=headers or {})


@pytest.mark.parametrize("path", ["/readyz", "/metrics"])
async def test_ops_endpoints_in_production_answer_only_configured_networks_or_the_token(path: str) -> None:
    app = ops_app(env="production", ops_networks=["10.20.0.0/16"], ops_token="scrape-secret-0123456789")
    outsider = ("203.0.113.9", 4000)
    assert (await get(app, path, outsider)).status_code == 404
    assert (await get(app, path, outsider, {"Authorization": "Bearer wrong"})).status_code == 404
    assert (await get(app, path, ("127.0.0.1", 4000))).status_code == 404  # loopback not listed here
    assert (await get(app, path, ("10.20.3.4", 4000))).status_code == 200
    assert (await get(app, path, outsider, {"Authorization": "Bearer scrape-secret-0123456789"})).status_code == 200
    assert (await get(app, "/healthz", outsider)).status_code == 200  # liveness says nothing


async def test_ops_endpoints_stay_open_in_development() -> None:
    app = ops_app(env="development", ops_networks=[])
    assert (await get(app, "/metrics", ("203.0.113.9", 4000))).status_code == 200
    assert (await get(app, "/readyz", ("203.0.113.9", 4000))).status_code == 200
