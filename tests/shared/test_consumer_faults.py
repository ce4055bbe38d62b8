"""The consumer under faults, on real PostgreSQL and NATS: poison bytes are dead-lettered whole and
the consumer goes on; a database connection killed under the handler is waited out without
spending deliveries; stale versions are refused; the durable's config is reconciled; an operator
replays a dead letter."""

import asyncio

import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import insert, select, text

from shared.events import CloudEvent
from shared.messaging import dead_letters
from shared.messaging.consumer import ConsumerRunner, Subscription
from shared.supervision import Supervisor
from shared.testing.plugin import wait_for
from tests.shared.messaging_env import MessagingEnv, messaging_env


@pytest.fixture
async def env(infra):
    async for value in messaging_env(infra.database_url, infra.nats_url):
        yield value


def runner_for(env: MessagingEnv, **options) -> ConsumerRunner:
    options = {"max_deliver": 3, "ack_wait": 5, **options}
    return ConsumerRunner(env.js, env.sessionmaker, env.tables, service=env.service, stream="GOVPERF", **options)


class Consuming:
    """Run one subscription in the background for the duration of a ``with`` block."""

    def __init__(self, env: MessagingEnv, handler, **options) -> None:
        self.runner = runner_for(env, **options)
        self.sub = Subscription(name="s", event_type=env.event_type, handler=handler)

    async def __aenter__(self) -> ConsumerRunner:
        self.task = asyncio.create_task(self.runner.run(self.sub))
        await wait_for(lambda: bool(self.runner.active), timeout=10)
        return self.runner

    async def __aexit__(self, *exc) -> None:
        self.runner.stop()
        await self.task


def applier(env: MessagingEnv):
    async def apply(session, event: CloudEvent) -> None:
        await session.execute(
            insert(env.applied).values(event_id=event.id, aggregate_id=event.aggregateid, note=event.data["note"])
        )

    return apply


async def publish(env: MessagingEnv, event: CloudEvent) -> None:
    await env.js.publish(env.nats_subject, event.model_dump_json().encode())


async def applied_notes(env: MessagingEnv) -> list[str]:
    async with env.engine.connect() as conn:
        return list((await conn.scalars(select(env.applied.c.note))).all())


async def test_a_poison_message_with_a_nul_byte_is_kept_whole_and_the_consumer_goes_on(env):
    poison = b'{"specversion": "1.0", "id": "\x00\xff not json'
    await env.js.publish(env.nats_subject, poison)
    good = env.event("after the poison", aggregate="A")
    await publish(env, good.model_copy(update={"sequence": 1}))
    async with Consuming(env, applier(env)):
        await wait_for(lambda: env.count(env.applied), timeout=15)
    async with env.engine.connect() as conn:
        row = (await conn.execute(select(env.tables.dead_letter))).one()
    assert row.payload == poison and row.status == "open" and "invalid envelope" in row.error
    assert await applied_notes(env) == ["after the poison"]


async def test_a_killed_database_connection_is_waited_out_without_spending_deliveries(env):
    """max_deliver is 1: if the three killed connections counted, the event would be dead-lettered."""
    kills = []

    async def handler(session, event):
        if len(kills) < 3:
            kills.append(event.id)
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        await applier(env)(session, event)

    await publish(env, env.event("survives", aggregate="A"))
    async with Consuming(env, handler, max_deliver=1):
        await wait_for(lambda: env.count(env.applied), timeout=30)
        await asyncio.sleep(0.5)
    assert len(kills) == 3
    assert await applied_notes(env) == ["survives"]
    assert await env.count(env.tables.dead_letter) == 0


async def test_a_stale_version_of_an_aggregate_is_acked_but_not_applied(env):
    newer = env.event("version 2", aggregate="A").model_copy(update={"sequence": 2})
    older = env.event("version 1", aggregate="A").model_copy(update={"sequence": 1})
    other = env.event("other aggregate", aggregate="B").model_copy(update={"sequence": 1})
    for event in (newer, older, other):
        await publish(env, event)
    async with Consuming(env, applier(env)):
        await wait_for(lambda: inbox_has(env, 3), timeout=15)
    assert sorted(await applied_notes(env)) == ["other aggregate", "version 2"]


async def test_the_durable_is_brought_to_the_current_configuration_on_start(env):
    runner = runner_for(env, ack_wait=7)
    sub = Subscription(name="s", event_type=env.event_type, handler=applier(env))
    durable = runner.durable_name(sub)
    # As an earlier version left it: NATS gives up after 5 deliveries, 30 s ack wait.
    await env.js.add_consumer(
        "GOVPERF",
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            max_deliver=5,
            ack_wait=30,
            filter_subject=env.nats_subject,
        ),
    )
    await runner.reconcile(sub)
    info = await env.js.consumer_info("GOVPERF", durable)
    assert info.config.max_deliver == -1 and info.config.ack_wait == 7
    await env.js.delete_consumer("GOVPERF", durable)


async def test_an_operator_replays_a_dead_letter_and_it_is_applied_once(env):
    broken = {"on": True}

    async def handler(session, event):
        if broken["on"]:
            raise RuntimeError("rule not yet deployed")
        await applier(env)(session, event)

    event = env.event("needs the fix", aggregate="A")
    await publish(env, event.model_copy(update={"sequence": 1}))
    consuming = Consuming(env, handler, max_deliver=2)
    async with consuming as runner:
        await wait_for(lambda: env.count(env.tables.dead_letter), timeout=30)
        broken["on"] = False
        async with env.sessionmaker() as session:
            page = await dead_letters.list_dead_letters(session, env.tables)
        assert [(i.event_id, i.status, i.attempts) for i in page.items] == [(event.id, "open", 2)]
        async with env.sessionmaker() as session, session.begin():
            await dead_letters.replay(session, env.tables, kind="consumer", dead_letter_id=page.items[0].id)
        replays = asyncio.create_task(runner.run_replays([consuming.sub]))
        await wait_for(lambda: env.count(env.applied), timeout=15)
        runner.stop()
        await replays
    async with env.engine.connect() as conn:
        row = (await conn.execute(select(env.tables.dead_letter))).one()
    assert row.status == "replayed" and row.replays == 1 and row.resolved_at is not None
    assert await applied_notes(env) == ["needs the fix"]
    async with env.sessionmaker() as session, session.begin():
        with pytest.raises(dead_letters.Conflict):
            await dead_letters.replay(session, env.tables, kind="consumer", dead_letter_id=str(row.id))
        with pytest.raises(dead_letters.NotFound):
            await dead_letters.discard(session, env.tables, kind="consumer", dead_letter_id="999999")


async def test_stop_hands_fetched_messages_back_at_once(env):
    """Draining: what a stopping consumer has fetched but not started is nak'ed, so the next
    consumer gets it now, not after ack_wait (60 s here)."""
    for i in range(5):
        await publish(env, env.event(f"n{i}"))
    runner = runner_for(env, ack_wait=60)
    sub = Subscription(name="s", event_type=env.event_type, handler=applier(env))
    await runner.reconcile(sub)
    pull = await env.js.pull_subscribe_bind(runner.durable_name(sub), "GOVPERF")
    messages = await pull.fetch(5, timeout=5)
    assert len(messages) == 5
    runner.stop()
    await runner.handle_batch(sub, messages)
    await pull.unsubscribe()
    assert await env.count(env.applied) == 0
    async with Consuming(env, applier(env), ack_wait=60):
        await wait_for(lambda: has_applied(env, 5), timeout=10)


async def inbox_has(env: MessagingEnv, n: int) -> bool:
    return await env.count(env.tables.inbox) == n


async def has_applied(env: MessagingEnv, n: int) -> bool:
    return await env.count(env.applied) == n


async def test_the_supervisor_restarts_a_failed_task():
    attempts = []
    running = asyncio.Event()

    async def flaky() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("nats not there yet")
        running.set()
        await asyncio.sleep(3600)

    supervisor = Supervisor(min_backoff=0.01)
    supervisor.start("flaky", flaky)
    await asyncio.wait_for(running.wait(), 5)
    assert supervisor.restarts["flaky"] == 2
    await supervisor.stop(timeout=0.1)
