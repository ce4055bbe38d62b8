"""The gateway in-process with survey_svc (in-process too) as its survey upstream, inside the
test's rolled-back transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.upstream import HttpxTransport
from shared.auth.devkeys import DevKeys
from shared.testing.plugin import Infra, client_for
from tests.gateway.graphql.conftest import Graph, OneAtATimeASGITransport, gateway_settings
from tests.survey_svc.conftest import client, db, survey_app  # noqa: F401
from tests.survey_svc.support import SurveyApi

SURVEY_URL = "http://survey"


@pytest.fixture(scope="session")
async def survey_gateway(migrated: Infra, dev_keys: DevKeys, survey_app: FastAPI) -> AsyncIterator[FastAPI]:  # noqa: F811
    app = create_app(gateway_settings(migrated, dev_keys, upstreams={"survey": SURVEY_URL}))
    async with app.router.lifespan_context(app):
        pooled = app.state.upstreams.transport
        app.state.upstreams.transport = HttpxTransport(
            httpx.AsyncClient(mounts={SURVEY_URL: OneAtATimeASGITransport(survey_app)})
        )
        await pooled.close()
        yield app


@pytest.fixture
async def through_gateway(survey_gateway: FastAPI, db: object) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with client_for(survey_gateway) as http:
        yield http


@pytest.fixture
def graph(through_gateway: httpx.AsyncClient) -> Graph:
    return Graph(through_gateway)


@pytest.fixture
def api(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> SurveyApi:  # noqa: F811
    return SurveyApi(client, auth)
