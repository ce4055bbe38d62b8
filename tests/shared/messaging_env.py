"""A private schema with the messaging tables, a NATS connection and helpers, for the tests of
the relay, the consumer, retention and dead letters on real PostgreSQL and NATS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, Identity, MetaData, Table, Text, func, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import create_engine, make_sessionmaker
from shared.events import CloudEvent, make_event
from shared.messaging import outbox
from shared.messaging.nats import ensure_stream
from shared.messaging.tables import MessagingTables, messaging_tables
from shared.testing.plugin import wait_for


class Note(BaseModel):
    note: str


@dataclass
class MessagingEnv:
    schema: str
    tables: MessagingTables
    applied: Table
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    nc: Client
    js: JetStreamContext
    service: str

    @property
    def event_type(self) -> str:
        return f"test.{self.service}.happened"

    @property
    def nats_subject(self) -> str:
        return f"govperf.{self.event_type}"

    def event(self, note: str, *, aggregate: str | None = None) -> CloudEvent:
        return make_event(self.event_type, Note(note=note), source="test", subject=aggregate)

    async def add(self, *events: CloudEvent) -> list[CloudEvent]:
        """Commit ``events`` through outbox.add in one transaction."""
        async with self.sessionmaker() as session, session.begin():
            return [await outbox.add(session, self.tables, e) for e in events]

    async def count(self, table: Table, *where: Any) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)

    async def published(self) -> int:
        return await self.count(self.tables.outbox, self.tables.outbox.c.published_at.is_not(None))

    async def wait_published(self, expected: int, timeout: float = 30.0, interval: float = 0.05) -> None:
        async def reached() -> bool:
            return await self.published() >= expected

        await wait_for(reached, timeout=timeout, interval=interval)

    async def stream_notes(self) -> list[tuple[str | None, int | None, str]]:
        """(aggregate, sequence, note) of every message on our subject, in stream order."""
        sub = await self.js.subscribe(self.nats_subject, ordered_consumer=True)
        found = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except TimeoutError:
                    return found
                event = CloudEvent.model_validate_json(msg.data)
                found.append((event.aggregateid, event.sequence, event.data["note"]))
        finally:
            await sub.unsubscribe()


async def messaging_env(database_url: str, nats_url: str, *, pool_size: int = 4) -> AsyncIterator[MessagingEnv]:
    service = f"t{uuid.uuid4().hex[:8]}"
    schema = f"m_{service}"
    metadata = MetaData(schema=schema)
    tables = messaging_tables(metadata)
    applied = Table(
        "applied",
        metadata,
        Column("position", BigInteger, Identity()),  # apply order (the heap order is not)
        Column("event_id", UUID(as_uuid=True)),
        Column("aggregate_id", Text),
        Column("note", Text),
    )
    engine = create_engine(database_url, pool_size=pool_size)
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
        await conn.run_sync(metadata.create_all)
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_stream(js, "GOVPERF")
    try:
        yield MessagingEnv(schema, tables, applied, engine, make_sessionmaker(engine), nc, js, service)
    finally:
        await nc.close()
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await engine.dispose()
