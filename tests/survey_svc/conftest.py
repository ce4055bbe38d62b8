from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.survey_svc.app import create_app
from services.survey_svc.config import Settings
from shared.auth.devkeys import DevKeys
from shared.testing.plugin import Infra, client_for, rolled_back, started


def survey_settings(infra: Infra, dev_keys: DevKeys, **overrides: object) -> Settings:
    return Settings(
        env="test",
        database_url=infra.database_url,
        nats_url=infra.nats_url,
        jwks_file=dev_keys.jwks_path,
        db_pool_size=5,
        **overrides,
    )


@pytest.fixture(scope="session")
async def survey_app(migrated: Infra, dev_keys: DevKeys) -> AsyncIterator[FastAPI]:
    # The relay, the sealer and set-based intake are off: API tests share one rolled-back
    # transaction, which background writers on their own connections could not see.
    app = create_app(
        survey_settings(
            migrated, dev_keys, run_relay=False, run_sealer=False, intake_batching=False, run_job_worker=False
        )
    )
    async for running in started(app):
        yield running


@pytest.fixture
async def db(survey_app: FastAPI) -> AsyncIterator[AsyncSession]:
    async for session in rolled_back(survey_app):
        yield session


@pytest.fixture
async def client(survey_app: FastAPI, db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(survey_app) as http:
        yield http
