from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback_svc.app import create_app
from services.feedback_svc.config import Settings
from shared.auth.devkeys import DevKeys
from shared.testing.plugin import Infra, client_for, rolled_back, started


def feedback_settings(infra: Infra, dev_keys: DevKeys, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": infra.database_url,
        "nats_url": infra.nats_url,
        "jwks_file": dev_keys.jwks_path,
        "db_pool_size": 5,
        "evidence_dir": Path(infra.data_dir) / "evidence",
        "overdue_sweep_seconds": 0,
    }
    return Settings(**(values | overrides))


@pytest.fixture(scope="session")
async def feedback_app(migrated: Infra, dev_keys: DevKeys) -> AsyncIterator[FastAPI]:
    # No relay, no consumers: API tests roll back; consumer tests start their own app.
    app = create_app(feedback_settings(migrated, dev_keys, run_relay=False, run_consumers=False))
    async for running in started(app):
        yield running


@pytest.fixture
async def db(feedback_app: FastAPI) -> AsyncIterator[AsyncSession]:
    async for session in rolled_back(feedback_app):
        yield session


@pytest.fixture
async def client(feedback_app: FastAPI, db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(feedback_app) as http:
        yield http
