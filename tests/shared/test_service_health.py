"""A service built by create_service_app on its own NATS server: /readyz reports the relay and
the consumers, turns 503 when nats-server is killed, and the relay and consumer carry on once
it is back (an event written afterwards is consumed)."""

import asyncio
import tempfile
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

from shared.auth.jwt import KeySet
from shared.config import BaseServiceSettings
from shared.embedded import start_nats
from shared.events import CloudEvent
from shared.messaging.nats import ensure_stream
from shared.service_app import create_service_app
from shared.testing.plugin import client_for, started, wait_for
from tests.shared.messaging_env import messaging_env


@pytest.fixture
async def private_nats():
    server = start_nats(Path(tempfile.mkdtemp(prefix="gph-", dir="/tmp")))
    yield server
    server.stop()


@pytest.fixture
async def env(infra, private_nats):
    async for value in messaging_env(infra.database_url, private_nats.url):
        yield value


async def ready(client: httpx.AsyncClient) -> dict:
    response = await client.get("/readyz")
    return {"status": response.status_code, **response.json()["checks"]}


def build_app(infra, dev_keys, private_nats, env):
    async def apply(session, event: CloudEvent) -> None:
        await session.execute(insert(env.applied).values(event_id=event.id, note=event.data["note"]))

    settings = BaseServiceSettings(
        service_name=env.service,
        env="test",
        database_url=infra.database_url,
        nats_url=private_nats.url,
        db_pool_size=3,
        retention_interval_seconds=3600,
        drain_seconds=5,
    )
    app = create_service_app(
        settings,
        title="health test",
        routers=[],
        tables=env.tables,
        handlers={env.event_type: apply},
        key_set=lambda _app: KeySet(path=dev_keys.jwks_path),
    )
    return app


async def test_readiness_follows_nats_and_the_consumer_survives_a_killed_server(infra, dev_keys, private_nats, env):
    app = build_app(infra, dev_keys, private_nats, env)
    async for running in started(app):
        async with client_for(running) as client:
            await wait_for(lambda: ready_is(client, 200), timeout=15)
            assert await ready(client) == {
                "status": 200,
                "database": "ok",
                "nats": "ok",
                "relay": "ok",
                "consumers": "ok",
            }
            assert private_nats.process is not None
            private_nats.process.kill()  # SIGKILL: no goodbye to the clients
            private_nats.process.wait()
            await wait_for(lambda: ready_is(client, 503), timeout=15)
            assert (await ready(client))["nats"] == "unavailable"
            await asyncio.sleep(1.0)
            private_nats.start()
            await wait_for(lambda: ready_is(client, 200), timeout=30)
            await env.add(env.event("after the outage", aggregate="A"))
            await wait_for(lambda: env.count(env.applied), timeout=30)


async def ready_is(client: httpx.AsyncClient, status: int) -> bool:
    return (await client.get("/readyz")).status_code == status


async def test_readiness_is_503_while_a_consumer_cannot_run(infra, dev_keys, private_nats, env):
    """The stream is deleted under a running service: the consumer cannot pull, /readyz says so
    (and which part is down); once an operator recreates the stream the consumer runs again."""
    app = build_app(infra, dev_keys, private_nats, env)
    async for running in started(app):
        async with client_for(running) as client:
            await wait_for(lambda: ready_is(client, 200), timeout=15)
            await env.js.delete_stream("GOVPERF")
            await wait_for(lambda: ready_is(client, 503), timeout=30)
            checks = await ready(client)
            assert checks["consumers"] == "unavailable" and checks["nats"] == "ok"
            await ensure_stream(env.js, "GOVPERF")
            await wait_for(lambda: ready_is(client, 200), timeout=60)
            await env.add(env.event("flows again", aggregate="A"))
            await wait_for(lambda: env.count(env.applied), timeout=30)
