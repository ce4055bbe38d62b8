from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal_svc.app import create_app
from services.appraisal_svc.config import Settings
from shared.auth.devkeys import DevKeys
from shared.testing.plugin import Infra, client_for, rolled_back, started


def appraisal_settings(infra: Infra, dev_keys: DevKeys, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": infra.database_url,
        "nats_url": infra.nats_url,
        "jwks_file": dev_keys.jwks_path,
        "db_pool_size": 5,
        "evidence_dir": Path(infra.data_dir) / "evidence",
        "evidence_max_bytes": 64 * 1024,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def appraisal_app(migrated: Infra, dev_keys: DevKeys) -> AsyncIterator[FastAPI]:
    # Relay and consumers off: API tests roll back, and framework versions are fed to the handler directly.
    # Jobs off: API tests run a job's handler in their own transaction; a worker of this session-long
    # app would otherwise claim the jobs that integration tests commit for their own workers.
    app = create_app(appraisal_settings(migrated, dev_keys, run_relay=False, run_consumers=False, run_jobs=False))
    async for running in started(app):
        yield running


@pytest.fixture
async def db(appraisal_app: FastAPI) -> AsyncIterator[AsyncSession]:
    async for session in rolled_back(appraisal_app):
        yield session


@pytest.fixture
async def client(appraisal_app: FastAPI, db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(appraisal_app) as http:
        yield http
