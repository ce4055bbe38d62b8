"""Relay benchmark: events from outbox insert to consumer commit, with one relay and with two.

burst: N events COPYed into the outbox at once (the figure main's benchmark printed);
steady: services commit events through ``outbox.add`` (transactions of 10) at a fixed offered rate
while the relays and the consumer run; each event's latency is measured from its producer's commit
to the commit of the consumer transaction that applied it (p50, p99).
Events belong to 500 aggregates, so the per-aggregate ordering is on the path being measured.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import nats
from sqlalchemy import MetaData, func, select, text

from shared.db import create_engine, make_sessionmaker
from shared.events import CloudEvent
from shared.messaging import outbox
from shared.messaging.consumer import ConsumerRunner, Subscription
from shared.messaging.nats import ensure_stream
from shared.messaging.outbox import OutboxRelay, encoded_size
from shared.messaging.tables import messaging_tables

AGGREGATES = 500


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    database_url: str, nats_url: str, *, events: int, relays: int, mode: str, rate: float = 100.0
) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    metadata = MetaData(schema=schema)
    tables = messaging_tables(metadata)
    engine = create_engine(database_url, pool_size=8)
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
        await conn.run_sync(metadata.create_all)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, "GOVPERF")
    outbox.use_server_max_payload(nc.max_payload)
    event_type = f"bench.{schema}.happened"
    committed_at: dict[uuid.UUID, float] = {}
    applied_at: dict[uuid.UUID, float] = {}
    pending_in_tx: list[uuid.UUID] = []

    async def record(session: object, event: CloudEvent) -> None:
        pending_in_tx.append(event.id)

    runner = ConsumerRunner(js, make_sessionmaker(engine), tables, service=schema, stream="GOVPERF", batch=200)
    sub = Subscription("sink", event_type, record)
    # The consumer's commit time: stamp the events of a batch when its transaction has committed.
    original_handle_batch = runner.handle_batch

    async def handle_batch(s: Subscription, messages: list[Any]) -> None:
        pending_in_tx.clear()
        await original_handle_batch(s, messages)
        now = time.perf_counter()
        for event_id in pending_in_tx:
            applied_at.setdefault(event_id, now)

    runner.handle_batch = handle_batch  # type: ignore[method-assign]
    consumer = asyncio.create_task(runner.run(sub))
    await asyncio.sleep(0.5)  # the durable exists before the first publish
    relay_objects = [OutboxRelay(engine, tables, js, service="bench", batch_size=500) for _ in range(relays)]
    # The producing services have their own connections, as they would in production.
    producer_engine = create_engine(database_url, pool_size=4)
    sessionmaker = make_sessionmaker(producer_engine)
    started = time.perf_counter()
    relay_tasks = [asyncio.create_task(r.run()) for r in relay_objects]
    if mode == "burst":
        rows = []
        sequence: dict[str, int] = {}
        for i in range(events):
            aggregate = f"agg-{i % AGGREGATES}"
            sequence[aggregate] = sequence.get(aggregate, 0) + 1
            event = CloudEvent(
                type=event_type, source="bench", aggregateid=aggregate, sequence=sequence[aggregate], data={"n": i}
            )
            envelope = event.model_dump(mode="json")
            rows.append(
                (
                    event.id,
                    event.nats_subject,
                    event.model_dump_json(),
                    aggregate,
                    sequence[aggregate],
                    encoded_size(envelope),
                )
            )
        started = time.perf_counter()
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                "outbox",
                schema_name=schema,
                columns=["id", "subject", "envelope", "aggregate_id", "sequence", "payload_bytes"],
                records=rows,
            )
            await conn.commit()
        now = time.perf_counter()
        committed_at = {row[0]: now for row in rows}
        for relay in relay_objects:
            relay.wake()
    else:
        # Offered load: transactions of 10 events at ``rate`` events/s in total, as services write them.
        interval = 10 / rate

        async def produce(index: int) -> None:
            batch = [
                CloudEvent(
                    type=event_type,
                    source="bench",
                    aggregateid=f"agg-{(index * 10 + j) % AGGREGATES}",
                    data={"n": index * 10 + j},
                )
                for j in range(10)
            ]
            async with sessionmaker() as session, session.begin():
                for event in batch:
                    await outbox.add(session, tables, event)
            now = time.perf_counter()
            for event in batch:
                committed_at[event.id] = now

        writers = []
        for index in range(events // 10):
            writers.append(asyncio.create_task(produce(index)))
            await asyncio.sleep(max(0.0, started + (index + 1) * interval - time.perf_counter()))
        await asyncio.gather(*writers)
    expected = len(committed_at) if mode == "steady" else events
    while len(applied_at) < expected:
        await asyncio.sleep(0.01)
    finished = max(applied_at.values())
    for relay in relay_objects:
        relay.stop()
    runner.stop()
    await asyncio.gather(*relay_tasks, consumer)
    async with engine.connect() as conn:
        unpublished = await conn.scalar(
            select(func.count()).select_from(tables.outbox).where(tables.outbox.c.published_at.is_(None))
        )
    await js.delete_consumer("GOVPERF", runner.durable_name(sub))
    await nc.close()
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    await engine.dispose()
    await producer_engine.dispose()
    latencies = [(applied_at[i] - committed_at[i]) * 1000 for i in committed_at if i in applied_at]
    return {
        "mode": mode,
        "relays": relays,
        "events": expected,
        "offered_events_per_s": rate if mode == "steady" else None,
        "end_to_end_s": round(finished - started, 3),
        "end_to_end_events_per_s": round(expected / (finished - started)),
        "latency_p50_ms": round(statistics.median(latencies), 1),
        "latency_p99_ms": round(_percentile(latencies, 0.99), 1),
        "unpublished_after": int(unpublished or 0),
    }
