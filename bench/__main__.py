"""Benchmarks on the embedded stack. ``make bench`` (or ``python -m bench [relay|gateway|codecs|all]``)
prints figures.

relay: events/s from outbox insert to consumer ack, through the real outbox relay, JetStream
and the shared consumer (an inbox row per event, one commit per fetched batch, then acks).
codecs: export and import of a 2000-indicator framework as JSON, YAML and Excel.
gateway: median and p99 latency of one REST read straight to indicator_svc and through the gateway.
identity: signing-key unwrap (legacy PBKDF2 vs scrypt) and password-grant logins (many accounts vs one).
collection: appraisal bulk submission of 100,000 rows beside a raw COPY of them, anomaly rules over
1,000,000 data points, audit chain verification over 1,000,000 entries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

import nats
from sqlalchemy import MetaData, func, select, text

from shared.db import create_engine, make_sessionmaker
from shared.embedded import start_nats, start_postgres
from shared.events import CloudEvent
from shared.messaging.consumer import ConsumerRunner, Subscription
from shared.messaging.nats import ensure_stream
from shared.messaging.outbox import OutboxRelay
from shared.messaging.tables import messaging_tables

SCHEMA = "bench"


async def relay_throughput(database_url: str, nats_url: str, events: int) -> dict[str, float]:
    metadata = MetaData(schema=SCHEMA)
    tables = messaging_tables(metadata)
    engine = create_engine(database_url, pool_size=4)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, "GOVPERF")
    event_type = f"bench.run{uuid.uuid4().hex[:8]}.happened"
    relay = OutboxRelay(engine, tables, js, service="bench", batch_size=500)
    runner = ConsumerRunner(js, make_sessionmaker(engine), tables, service="bench", stream="GOVPERF", batch=200)

    async def no_op(session: object, event: CloudEvent) -> None:
        return None

    consumer = asyncio.create_task(runner.run(Subscription("sink", event_type, no_op)))
    await asyncio.sleep(0.5)  # the durable consumer exists before the first publish
    rows = [CloudEvent(type=event_type, source="bench", data={"n": i}) for i in range(events)]
    started = time.perf_counter()
    # COPY, as bulk loads should: far past the bind-parameter cap of a multi-row INSERT.
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            "outbox",
            schema_name=SCHEMA,
            columns=["id", "subject", "envelope"],
            records=[(e.id, e.nats_subject, e.model_dump_json()) for e in rows],
        )
        await conn.commit()
    inserted = time.perf_counter()
    relay_task = asyncio.create_task(relay.run())
    while await relay.backlog():
        await asyncio.sleep(0.02)
    published = time.perf_counter()
    while True:
        async with engine.connect() as conn:
            done = await conn.scalar(select(func.count()).select_from(tables.inbox)) or 0
        if done >= events:
            break
        await asyncio.sleep(0.05)
    acked = time.perf_counter()
    relay.stop()
    runner.stop()
    await asyncio.gather(relay_task, consumer)
    await nc.close()
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
    await engine.dispose()
    return {
        "events": events,
        "insert_s": inserted - started,
        "publish_s": published - inserted,
        "end_to_end_s": acked - started,
        "relay_events_per_s": events / (published - inserted),
        "end_to_end_events_per_s": events / (acked - started),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "which", nargs="?", choices=["relay", "gateway", "codecs", "identity", "collection", "all"], default="all"
    )
    parser.add_argument("--logins", type=int, default=200, help="identity: password-grant logins per shape")
    parser.add_argument("--events", type=int, default=20_000, help="relay: events to push through")
    parser.add_argument("--requests", type=int, default=2_000, help="gateway: requests per path")
    parser.add_argument("--concurrency", type=int, default=8, help="gateway: requests in flight")
    args = parser.parse_args()
    if args.which in ("codecs", "all"):
        from bench import codecs  # lazy: imports the services

        formats = codecs.run()
        print(json.dumps({"benchmark": "framework import/export, 2000 indicators", **formats}, indent=2))
        print(
            "; ".join(
                f"{name}: export {f['export_s']:.2f} s, import {f['import_s']:.2f} s" for name, f in formats.items()
            )
        )
        if args.which == "codecs":
            return
    data_dir = Path(tempfile.mkdtemp(prefix="gpb-", dir="/tmp"))
    pg, broker = start_postgres(data_dir), start_nats(data_dir)
    try:
        if args.which in ("relay", "all"):
            result = asyncio.run(relay_throughput(pg.url, broker.url, args.events))
            print(json.dumps({"benchmark": "outbox relay -> JetStream -> consumer ack", **result}, indent=2))
            print(
                f"relay publish: {result['relay_events_per_s']:,.0f} events/s; "
                f"end to end (insert -> consumer ack): {result['end_to_end_events_per_s']:,.0f} events/s "
                f"over {args.events:,} events"
            )
        if args.which in ("identity", "all"):
            from bench import identity  # lazy: imports the services

            costs = identity.run(pg.url, broker.url, data_dir, count=args.logins, concurrency=args.concurrency)
            print(json.dumps({"benchmark": "identity: key unwrap and password-grant logins", **costs}, indent=2))
        if args.which in ("gateway", "all"):
            from bench import gateway  # lazy: imports the services

            figures = gateway.run(pg.url, broker.url, data_dir, requests=args.requests, concurrency=args.concurrency)
            print(
                json.dumps(
                    {"benchmark": "GET /api/v1/frameworks/{id}: direct vs through the gateway", **figures}, indent=2
                )
            )
            direct, through = figures["direct"], figures["gateway"]
            assert isinstance(direct, dict) and isinstance(through, dict)
            print(
                f"direct: median {direct['median_ms']:.2f} ms, p99 {direct['p99_ms']:.2f} ms; "
                f"gateway: median {through['median_ms']:.2f} ms, p99 {through['p99_ms']:.2f} ms; "
                f"added: median {figures['added_median_ms']:.2f} ms, p99 {figures['added_p99_ms']:.2f} ms "
                f"({args.requests:,} requests each, {args.concurrency} in flight)"
            )
        if args.which in ("collection", "all"):
            from bench import collection  # lazy: imports the services

            figures = collection.run(pg.url)
            print(json.dumps({"benchmark": "appraisal data collection", **figures}, indent=2))
    finally:
        broker.stop()
        pg.stop()


if __name__ == "__main__":
    main()
