"""Published results through the gateway: no token needed (and none passed on), /public/plans
itself routable, and the per-address rate limit applies to these anonymous requests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.upstream import HttpxTransport
from shared.auth.devkeys import DevKeys
from shared.testing.plugin import Infra, client_for
from tests.appraisal_svc.api.results_support import publish, to_objection
from tests.appraisal_svc.api.support import Api, World
from tests.gateway.appraisal.conftest import APPRAISAL_URL
from tests.gateway.graphql.conftest import OneAtATimeASGITransport, gateway_settings

BURST = 5


@pytest.fixture(scope="module")
async def limited_gateway(migrated: Infra, dev_keys: DevKeys, appraisal_app: FastAPI) -> AsyncIterator[FastAPI]:
    """A gateway that lets one address send BURST requests at once, then about one a minute."""
    settings = gateway_settings(
        migrated, dev_keys, upstreams={"appraisal": APPRAISAL_URL}, rate_limit_per_minute=1, rate_limit_burst=BURST
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pooled = app.state.upstreams.transport
        app.state.upstreams.transport = HttpxTransport(
            httpx.AsyncClient(mounts={APPRAISAL_URL: OneAtATimeASGITransport(appraisal_app)})
        )
        await pooled.close()
        yield app


async def test_published_plans_need_no_token_through_the_gateway(
    api: Api, world: World, appraisal_gateway: FastAPI
) -> None:
    await to_objection(api, world)
    async with client_for(appraisal_gateway) as anonymous:
        assert world.plan["id"] not in {p["id"] for p in (await anonymous.get("/public/plans")).json()["items"]}
        assert (await anonymous.get(f"/public/plans/{world.plan['id']}")).status_code == 404
        await publish(api, world)
        listed = await anonymous.get("/public/plans")
        assert listed.status_code == 200 and world.plan["id"] in {p["id"] for p in listed.json()["items"]}
        # A garbage token is not checked (the route is public) and not passed on.
        table = await anonymous.get(
            f"/public/plans/{world.plan['id']}/results", headers={"Authorization": "Bearer garbage"}
        )
        assert table.status_code == 200 and len(table.json()["items"]) == 6
        etag = table.headers["etag"]
        cached = await anonymous.get(f"/public/plans/{world.plan['id']}/results", headers={"If-None-Match": etag})
        assert cached.status_code == 304
        assert (await anonymous.get("/public/plans/%2e%2e/api/v1/plans")).status_code == 404


async def test_public_requests_are_rate_limited_per_address(limited_gateway: FastAPI, db: object) -> None:
    async with client_for(limited_gateway) as anonymous:
        answers = [(await anonymous.get("/public/plans")).status_code for _ in range(BURST + 2)]
    assert answers[:BURST] == [200] * BURST and answers[BURST:] == [429, 429]
