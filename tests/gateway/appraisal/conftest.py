"""The gateway in-process with appraisal_svc (in-process too) as its appraisal upstream, inside
the test's rolled-back transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.upstream import HttpxTransport
from shared.auth.devkeys import DevKeys
from shared.testing.plugin import Infra, client_for
from tests.appraisal_svc.api.conftest import api, world  # noqa: F401
from tests.appraisal_svc.conftest import appraisal_app, client, db  # noqa: F401
from tests.gateway.graphql.conftest import Graph, OneAtATimeASGITransport, gateway_settings

APPRAISAL_URL = "http://appraisal"


@pytest.fixture(scope="session")
async def appraisal_gateway(migrated: Infra, dev_keys: DevKeys, appraisal_app: FastAPI) -> AsyncIterator[FastAPI]:  # noqa: F811
    app = create_app(gateway_settings(migrated, dev_keys, upstreams={"appraisal": APPRAISAL_URL}))
    async with app.router.lifespan_context(app):
        pooled = app.state.upstreams.transport
        app.state.upstreams.transport = HttpxTransport(
            httpx.AsyncClient(mounts={APPRAISAL_URL: OneAtATimeASGITransport(appraisal_app)})
        )
        await pooled.close()
        yield app


@pytest.fixture
async def graph(appraisal_gateway: FastAPI, db: object) -> AsyncIterator[Graph]:  # noqa: F811
    async with client_for(appraisal_gateway) as http:
        yield Graph(http)
