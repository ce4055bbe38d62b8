"""Retention on real PostgreSQL: what is past its age goes (in batches), what is pending, open or
recent stays; a replica that finds the task's lock taken skips the round."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from shared.messaging.retention import RetentionPolicy, retention_task
from shared.periodic import run_once
from tests.shared.messaging_env import messaging_env

NOW = dt.datetime.now(dt.UTC)
OLD = NOW - dt.timedelta(days=40)
RECENT = NOW - dt.timedelta(hours=1)


@pytest.fixture
async def env(infra):
    async for value in messaging_env(infra.database_url, infra.nats_url):
        yield value


async def seed(env) -> dict[str, uuid.UUID]:
    t = env.tables
    ids = {name: uuid.uuid4() for name in ("old_published", "recent_published", "old_pending", "old_discarded")}
    rows = [
        (ids["old_published"], OLD, OLD, None),
        (ids["recent_published"], OLD, RECENT, None),
        (ids["old_pending"], OLD, None, None),
        (ids["old_discarded"], OLD, None, OLD),
    ]
    async with env.engine.begin() as conn:
        for row_id, created, published, discarded in rows:
            await conn.execute(
                t.outbox.insert().values(
                    id=row_id,
                    subject="govperf.x.y.z",
                    envelope={},
                    aggregate_id=str(row_id),
                    sequence=1,
                    created_at=created,
                    published_at=published,
                    discarded_at=discarded,
                    parked_at=discarded,
                )
            )
        for when in (OLD, OLD, OLD, RECENT):
            await conn.execute(t.inbox.insert().values(consumer="c", event_id=uuid.uuid4(), processed_at=when))
            await conn.execute(
                t.idempotency.insert().values(
                    subject="s", key=str(uuid.uuid4()), request_hash="h", status_code=201, response={}, created_at=when
                )
            )
        for status, resolved in (("replayed", OLD), ("discarded", OLD), ("discarded", RECENT), ("open", None)):
            await conn.execute(
                t.dead_letter.insert().values(
                    consumer="c",
                    subject="s",
                    payload=b"{}",
                    error="e",
                    deliveries=5,
                    status=status,
                    created_at=OLD,
                    resolved_at=resolved,
                )
            )
    return ids


async def test_retention_deletes_only_what_is_past_its_age(env):
    ids = await seed(env)
    task = retention_task(env.tables, RetentionPolicy(batch_size=2))
    assert await run_once(env.engine, task)
    async with env.engine.connect() as conn:
        kept = set((await conn.scalars(env.tables.outbox.select().with_only_columns(env.tables.outbox.c.id))).all())
        statuses = sorted(
            await conn.scalars(env.tables.dead_letter.select().with_only_columns(env.tables.dead_letter.c.status))
        )
    assert kept == {ids["recent_published"], ids["old_pending"]}
    assert await env.count(env.tables.inbox) == 1
    assert await env.count(env.tables.idempotency) == 1
    assert statuses == ["discarded", "open"]


async def test_a_replica_that_finds_the_lock_taken_skips_the_round(env):
    await seed(env)
    task = retention_task(env.tables, RetentionPolicy())
    async with env.engine.connect() as other_replica:
        await other_replica.execute(text("SELECT pg_advisory_lock(hashtextextended(:n, 0))"), {"n": task.name})
        assert not await run_once(env.engine, task)
        assert await env.count(env.tables.inbox) == 4
        await other_replica.execute(text("SELECT pg_advisory_unlock(hashtextextended(:n, 0))"), {"n": task.name})
    assert await run_once(env.engine, task)
    assert await env.count(env.tables.inbox) == 1
