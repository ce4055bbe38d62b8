"""pytest fixtures every service's tests share: real PostgreSQL and NATS (embedded unless
GOVPERF_TEST_DATABASE_URL / GOVPERF_TEST_NATS_URL are given), migrations, tokens, and a
per-test transaction that is rolled back."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth.devkeys import DevKeys, ensure_dev_keys, mint_dev_token
from shared.db import committing
from shared.embedded import EmbeddedNats, start_nats, start_postgres
from shared.migrations import upgrade
from shared.reads import Reader, get_reader, session_reader
from shared.service_app import get_session
from shared.stack import SERVICES

TokenFactory = Callable[..., str]


@dataclass
class Infra:
    database_url: str
    nats_url: str
    data_dir: Path
    nats: EmbeddedNats | None  # None when NATS is external (it cannot be restarted by tests)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    # Short path: PostgreSQL's Unix socket lives inside the data folder (~100 character limit).
    data_dir = Path(tempfile.mkdtemp(prefix="gpt-", dir="/tmp"))
    pg = nats = None
    database_url = os.environ.get("GOVPERF_TEST_DATABASE_URL")
    if database_url is None:
        pg = start_postgres(data_dir)
        database_url = pg.url
    nats_url = os.environ.get("GOVPERF_TEST_NATS_URL")
    if nats_url is None:
        nats = start_nats(data_dir)
        nats_url = nats.url
    try:
        yield Infra(database_url=database_url, nats_url=nats_url, data_dir=data_dir, nats=nats)
    finally:
        if nats is not None:
            nats.stop()
        if pg is not None:
            pg.stop()


@pytest.fixture(scope="session")
def migrated(infra: Infra) -> Infra:
    for spec in SERVICES:
        upgrade(spec, infra.database_url)
    return infra


@pytest.fixture(scope="session")
def dev_keys(infra: Infra) -> DevKeys:
    return ensure_dev_keys(infra.data_dir / "keys")


@pytest.fixture(scope="session")
def make_token(dev_keys: DevKeys) -> TokenFactory:
    """``make_token("perf_office", org_path="/gd/sz")`` -> a signed bearer token."""

    def factory(
        *roles: str,
        org_path: str = "/",
        subject: str | None = None,
        org_unit_id: uuid.UUID | None = None,
        ttl_seconds: int = 600,
    ) -> str:
        return mint_dev_token(
            dev_keys,
            subject=subject or f"user-{'-'.join(roles) or 'none'}",
            roles=list(roles),
            org_unit_id=str(org_unit_id or uuid.uuid4()),
            org_path=org_path,
            ttl_seconds=ttl_seconds,
        )

    return factory


@pytest.fixture(scope="session")
def auth(make_token: TokenFactory) -> Callable[..., dict[str, str]]:
    """``auth("admin")`` -> headers with a bearer token."""

    def headers(*roles: str, **kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(*roles, **kwargs)}"}

    return headers


async def started(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run ``app``'s lifespan around the tests that use it."""
    async with app.router.lifespan_context(app):
        yield app


async def rolled_back(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """Route every request's session into one outer transaction that is rolled back afterwards;
    the service's commits become savepoint releases, so tests see committed behaviour."""
    async with app.state.engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
        )

        async def override() -> AsyncIterator[AsyncSession]:
            async with committing(session):
                yield session

        app.dependency_overrides[get_session] = override

        # Reads without a session run on the same connection, inside the same transaction.
        async def reader_override() -> Reader:
            return session_reader(session)

        app.dependency_overrides[get_reader] = reader_override
        try:
            yield session
        finally:
            app.dependency_overrides.pop(get_session, None)
            app.dependency_overrides.pop(get_reader, None)
            await session.close()
            await transaction.rollback()


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://testserver"
    )


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll an async or sync predicate until truthy; fail the test on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
