"""The fault test of the messaging core: 5,000 events of 100 aggregates flow outbox -> relay ->
JetStream -> consumer while nats-server is SIGKILLed and restarted and the consumer's database
connections are terminated (pg_terminate_backend), repeatedly. Afterwards: none lost, none applied
twice, every aggregate's events applied in sequence, and the consumer still running."""

import asyncio
import time
from collections import defaultdict

import pytest
from sqlalchemy import select, text

from shared.db import create_engine, make_sessionmaker
from shared.embedded import port_is_free
from shared.events import CloudEvent
from shared.messaging.consumer import ConsumerRunner, Subscription
from shared.messaging.outbox import OutboxRelay
from shared.supervision import Supervisor
from shared.testing.plugin import wait_for
from tests.shared.messaging_env import MessagingEnv, messaging_env

EVENTS, AGGREGATES = 5000, 100
CONSUMER_APP = "govperf-fault-consumer"


@pytest.fixture
async def env(infra):
    if infra.nats is None:
        pytest.skip("NATS is external: the test cannot kill it")
    async for value in messaging_env(infra.database_url, infra.nats_url):
        yield value


async def applied_count(env: MessagingEnv) -> int:
    return await env.count(env.applied)


async def kill_consumer_connections(env: MessagingEnv) -> int:
    async with env.engine.connect() as conn:
        killed = await conn.scalar(
            text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :app"),
            {"app": CONSUMER_APP},
        )
        await conn.commit()
    return int(killed or 0)


def sigkill_and_restart_nats(infra) -> None:
    nats = infra.nats
    assert nats.process is not None
    nats.process.kill()
    nats.process.wait()
    nats.process = None
    time.sleep(1.5)  # the services notice: publishes and pulls fail meanwhile
    deadline = time.monotonic() + 10
    while not port_is_free(nats.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    nats.start()


async def test_no_event_is_lost_or_applied_twice_through_nats_and_database_faults(infra, env):
    # The consumer has its own engine, named, so that only its connections are terminated.
    consumer_engine = create_engine(
        infra.database_url, pool_size=3, connect_args={"server_settings": {"application_name": CONSUMER_APP}}
    )

    async def apply(session, event: CloudEvent) -> None:
        await session.execute(
            env.applied.insert().values(event_id=event.id, aggregate_id=event.aggregateid, note=str(event.sequence))
        )

    runner = ConsumerRunner(
        env.js, make_sessionmaker(consumer_engine), env.tables, service=env.service, stream="GOVPERF", ack_wait=10
    )
    sub = Subscription(name="faults", event_type=env.event_type, handler=apply)
    relay = OutboxRelay(env.engine, env.tables, env.js, service=env.service, batch_size=200)
    supervisor = Supervisor(max_backoff=2.0)
    supervisor.start("consumer", lambda: runner.run(sub))
    supervisor.start("relay", relay.run)
    try:
        for start in range(0, EVENTS, 250):
            await env.add(*(env.event(f"n{i}", aggregate=f"agg-{i % AGGREGATES}") for i in range(start, start + 250)))
        await wait_for(lambda: at_least(env, 1000), timeout=60, interval=0.01)
        killed = await kill_consumer_connections(env)
        await asyncio.to_thread(sigkill_and_restart_nats, infra)
        killed += await kill_consumer_connections(env)
        await wait_for(lambda: at_least(env, 3000), timeout=90, interval=0.01)
        killed += await kill_consumer_connections(env)
        await asyncio.sleep(0.2)
        killed += await kill_consumer_connections(env)
        await wait_for(lambda: at_least(env, EVENTS), timeout=120)
        assert killed > 0
        await asyncio.sleep(1.0)  # room for a duplicate to be (not) applied
        # Still running: one more event goes all the way.
        await env.add(env.event("after the faults", aggregate="agg-0"))
        await wait_for(lambda: at_least(env, EVENTS + 1), timeout=60)
        assert runner.durable_name(sub) in runner.active
    finally:
        runner.stop()
        relay.stop()
        await supervisor.stop(timeout=10)
        await consumer_engine.dispose()
    async with env.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(env.applied.c.event_id, env.applied.c.aggregate_id, env.applied.c.note).order_by(
                    env.applied.c.position
                )
            )
        ).all()
    assert len(rows) == EVENTS + 1  # none lost, none twice
    assert len({row.event_id for row in rows}) == EVENTS + 1
    by_aggregate = defaultdict(list)
    for row in rows:
        by_aggregate[row.aggregate_id].append(int(row.note))
    for aggregate, sequences in by_aggregate.items():
        assert sequences == list(range(1, len(sequences) + 1)), aggregate


async def at_least(env: MessagingEnv, n: int) -> bool:
    return await applied_count(env) >= n
