"""The shared consumer on real PostgreSQL and NATS: applies an event once however often it
arrives, and moves poison or failing events to the dead-letter table."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from sqlalchemy import Column, MetaData, Table, Text, func, insert, select, text
from sqlalchemy.dialects.postgresql import UUID

from shared.db import create_engine, make_sessionmaker
from shared.events import CloudEvent
from shared.messaging.consumer import ConsumerRunner, Subscription
from shared.messaging.nats import ensure_stream
from shared.messaging.tables import messaging_tables
from shared.testing.plugin import wait_for

SCHEMA = "consumer_test"
metadata = MetaData(schema=SCHEMA)
TABLES = messaging_tables(metadata)
applied = Table("applied", metadata, Column("event_id", UUID(as_uuid=True)), Column("note", Text))


@pytest.fixture
async def env(infra) -> AsyncIterator[dict]:
    engine = create_engine(infra.database_url, pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    await ensure_stream(js, "GOVPERF")
    service = f"t{uuid.uuid4().hex[:8]}"
    runner = ConsumerRunner(
        js, make_sessionmaker(engine), TABLES, service=service, stream="GOVPERF", max_deliver=3, ack_wait=5
    )
    yield {"engine": engine, "js": js, "runner": runner, "event_type": f"test.{service}.happened"}
    runner.stop()
    await nc.close()
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
    await engine.dispose()


async def count(engine, table, *where) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def run_subscription(env, handler) -> asyncio.Task:
    sub = Subscription(name="s", event_type=env["event_type"], handler=handler)
    return asyncio.create_task(env["runner"].run(sub))


async def apply_event(session, event: CloudEvent) -> None:
    await session.execute(insert(applied).values(event_id=event.id, note=event.data["note"]))


async def test_same_event_delivered_twice_is_applied_once(env):
    event = CloudEvent(type=env["event_type"], source="test", data={"note": "hello"})
    payload = event.model_dump_json().encode()
    # No Nats-Msg-Id: JetStream stores both copies, so only the inbox can stop the second.
    for _ in range(2):
        await env["js"].publish(f"govperf.{env['event_type']}", payload)
    task = await run_subscription(env, apply_event)
    try:
        await wait_for(lambda: count(env["engine"], TABLES.inbox), timeout=10)
        await asyncio.sleep(1.0)  # room for the duplicate to be (not) applied
    finally:
        env["runner"].stop()
        await task
    assert await count(env["engine"], applied) == 1
    assert await count(env["engine"], TABLES.inbox, TABLES.inbox.c.event_id == event.id) == 1


async def test_failing_handler_goes_to_dead_letter_after_max_deliver(env):
    attempts = []

    async def always_fails(session, event):
        attempts.append(event.id)
        await session.execute(insert(applied).values(event_id=event.id, note="partial"))
        raise RuntimeError("downstream rule broken")

    event = CloudEvent(type=env["event_type"], source="test", data={"note": "x"})
    await env["js"].publish(f"govperf.{env['event_type']}", event.model_dump_json().encode())
    task = await run_subscription(env, always_fails)
    try:
        await wait_for(lambda: count(env["engine"], TABLES.dead_letter), timeout=30)
    finally:
        env["runner"].stop()
        await task
    assert len(attempts) == 3
    assert await count(env["engine"], applied) == 0  # every failed attempt rolled back
    assert await count(env["engine"], TABLES.inbox) == 0  # so a replay from dead letter can apply it
    async with env["engine"].connect() as conn:
        row = (await conn.execute(select(TABLES.dead_letter))).one()
    assert row.event_id == event.id and row.deliveries == 3 and "downstream rule broken" in row.error


async def test_malformed_event_is_dead_lettered_at_once(env):
    await env["js"].publish(f"govperf.{env['event_type']}", b'{"not": "a cloudevent"}')
    task = await run_subscription(env, apply_event)
    try:
        await wait_for(lambda: count(env["engine"], TABLES.dead_letter), timeout=10)
    finally:
        env["runner"].stop()
        await task
    async with env["engine"].connect() as conn:
        row = (await conn.execute(select(TABLES.dead_letter))).one()
    assert row.event_id is None and row.deliveries == 1 and "invalid envelope" in row.error
