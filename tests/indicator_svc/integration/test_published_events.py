"""On real PostgreSQL and NATS: a published framework reaches subscribers exactly once,
even when NATS is down between the commit and the relay's publish."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import text

from services.indicator_svc.app import create_app
from services.indicator_svc.data import load_city_framework
from services.indicator_svc.db import TABLES
from services.indicator_svc.framework import codecs
from shared.messaging.outbox import OutboxRelay
from shared.testing.plugin import client_for, started, wait_for
from tests.indicator_svc.conftest import indicator_settings

SUBJECT = "govperf.indicator.framework.published"


@pytest.fixture
async def committed_app(migrated, dev_keys) -> AsyncIterator:
    """An app whose requests really commit (no rolled-back transaction); tables are emptied after."""
    app = create_app(indicator_settings(migrated, dev_keys, run_relay=False))
    async for running in started(app):
        yield running
        async with running.state.engine.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE indicator.framework, indicator.indicator, indicator.outbox, "
                    "indicator.idempotency_key CASCADE"
                )
            )


@pytest.fixture
async def subscriber(migrated) -> AsyncIterator:
    """A durable pull consumer on the published subject that only sees new messages."""
    nc = await nats.connect(migrated.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    durable = f"test-{uuid.uuid4().hex[:8]}"
    psub = await js.pull_subscribe(
        SUBJECT,
        durable=durable,
        stream="GOVPERF",
        config=ConsumerConfig(durable_name=durable, deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT),
    )
    yield nc, psub
    await js.delete_consumer("GOVPERF", durable)
    await nc.close()


async def drain(psub, framework_id: str, seconds: float = 1.0) -> list[dict]:
    """Every message for ``framework_id`` that arrives within ``seconds``."""
    found, deadline = [], asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        try:
            batch = await psub.fetch(50, timeout=0.3)
        except (nats.errors.TimeoutError, TimeoutError):
            continue
        for msg in batch:
            await msg.ack()
            envelope = json.loads(msg.data)
            if envelope["data"]["framework_id"] == framework_id:
                found.append(envelope)
    return found


async def publish_city_framework(app, auth) -> str:
    headers = auth("perf_office", org_path="/gd/sz")
    async with client_for(app) as http:
        created = await http.post(
            f"/api/v1/frameworks/import?format=json&org_path=/gd/sz&org_unit_id={uuid.uuid4()}",
            content=codecs.to_json(load_city_framework()),
            headers=headers,
        )
        assert created.status_code == 201, created.text
        framework_id = created.json()["id"]
        etag = created.headers["ETag"]
        published = await http.post(f"/api/v1/frameworks/{framework_id}/publish", headers={**headers, "If-Match": etag})
        assert published.status_code == 200, published.text
    return framework_id


async def test_event_survives_nats_restart_between_commit_and_publish(committed_app, subscriber, migrated, auth):
    if migrated.nats is None:
        pytest.skip("NATS is external; this test restarts the embedded server")
    nc, psub = subscriber
    relay = OutboxRelay(
        committed_app.state.engine, TABLES, committed_app.state.js, service="indicator-test", publish_timeout=1.0
    )
    framework_id = await publish_city_framework(committed_app, auth)

    migrated.nats.stop()
    published, failed = await relay.relay_once()
    assert (published, failed) == (0, 1)
    assert await relay.backlog() == 1  # the event waits in the outbox, not lost

    migrated.nats.restart()
    await wait_for(lambda: committed_app.state.nc.is_connected and nc.is_connected, timeout=20)
    relay_task = asyncio.create_task(relay.run())
    try:
        await wait_for(lambda: relay.backlog_is_empty(), timeout=20)
        received = await drain(psub, framework_id, seconds=2.0)
    finally:
        relay.stop()
        await relay_task
    assert len(received) == 1
    event = received[0]
    assert event["type"] == "indicator.framework.published"
    assert event["specversion"] == "1.0"
    assert event["data"]["content"]["code"] == load_city_framework().code
    assert len(event["data"]["content"]["indicators"]) == len(load_city_framework().indicators)


async def test_republish_after_crash_before_mark_is_deduplicated(committed_app, subscriber, auth):
    _, psub = subscriber
    relay = OutboxRelay(committed_app.state.engine, TABLES, committed_app.state.js, service="indicator-test")
    framework_id = await publish_city_framework(committed_app, auth)
    assert await relay.relay_once() == (1, 0)
    # The relay "crashed" after publishing but before marking: the row looks unpublished again.
    async with committed_app.state.engine.begin() as conn:
        await conn.execute(text("UPDATE indicator.outbox SET published_at = NULL"))
    assert await relay.relay_once() == (1, 0)
    assert len(await drain(psub, framework_id, seconds=1.5)) == 1


async def test_concurrent_relays_publish_each_row_once(committed_app, subscriber, auth):
    _, psub = subscriber
    framework_id = await publish_city_framework(committed_app, auth)
    relays = [
        OutboxRelay(committed_app.state.engine, TABLES, committed_app.state.js, service="indicator-test")
        for _ in range(3)
    ]
    results = await asyncio.gather(*(r.relay_once() for r in relays))
    assert sum(published for published, _ in results) == 1
    assert len(await drain(psub, framework_id, seconds=1.0)) == 1
