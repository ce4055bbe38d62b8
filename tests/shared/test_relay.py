"""The outbox relay on real PostgreSQL and NATS: per-aggregate order (one relay or two, a failed
publish inside a batch), per-row backoff and parking that do not slow other rows, byte-bounded
rounds, the server's max_payload as the size guard, wake-ups by outbox commits only, draining stop."""

import asyncio
from collections import defaultdict

import pytest

from shared.errors import Unprocessable
from shared.messaging import dead_letters, outbox
from shared.messaging.outbox import OutboxRelay
from shared.testing.plugin import wait_for
from tests.shared.messaging_env import MessagingEnv, messaging_env


@pytest.fixture
async def env(infra):
    async for value in messaging_env(infra.database_url, infra.nats_url):
        yield value


def relay_for(env: MessagingEnv, **options) -> OutboxRelay:
    return OutboxRelay(env.engine, env.tables, env.js, service=env.service, **options)


async def run_until_published(env: MessagingEnv, *relays: OutboxRelay, expected: int, timeout: float = 30) -> None:
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        await env.wait_published(expected, timeout=timeout)
    finally:
        for r in relays:
            r.stop()
        await asyncio.gather(*tasks)


async def parked(env: MessagingEnv) -> bool:
    return await env.count(env.tables.outbox, env.tables.outbox.c.parked_at.is_not(None)) == 1


def assert_in_sequence(found) -> None:
    by_aggregate = defaultdict(list)
    for aggregate, sequence, _ in found:
        by_aggregate[aggregate].append(sequence)
    for aggregate, sequences in by_aggregate.items():
        assert sequences == sorted(sequences), f"{aggregate} out of order: {sequences}"
        assert sequences == list(range(1, len(sequences) + 1))


async def test_add_numbers_each_aggregates_events_in_commit_order(env):
    first = await env.add(env.event("a1", aggregate="A"), env.event("b1", aggregate="B"))
    second = await env.add(env.event("a2", aggregate="A"), env.event("a3", aggregate="A"))
    lone = await env.add(env.event("no aggregate"))
    assert [(e.aggregateid, e.sequence) for e in first + second] == [("A", 1), ("B", 1), ("A", 2), ("A", 3)]
    assert lone[0].aggregateid is None and lone[0].sequence is None  # nothing for consumers to track


async def test_concurrent_writers_of_one_aggregate_get_sequences_in_commit_order(env):
    """The counter row stays locked until commit: a later committer never gets a smaller sequence."""
    holder = env.sessionmaker()
    await holder.begin()
    early = await outbox.add(holder, env.tables, env.event("early", aggregate="X"))
    late_task = asyncio.create_task(env.add(env.event("late", aggregate="X")))
    await asyncio.sleep(0.3)
    assert not late_task.done()  # waits for the first writer's commit
    await holder.commit()
    await holder.close()
    late = (await late_task)[0]
    assert (early.sequence, late.sequence) == (1, 2)


async def test_two_relays_publish_every_aggregate_in_sequence(env):
    aggregates = [f"agg-{i}" for i in range(8)]
    for round_ in range(25):
        await env.add(*(env.event(f"{a}-{round_}", aggregate=a) for a in aggregates))
    await run_until_published(
        env, relay_for(env, batch_size=7), relay_for(env, batch_size=11), expected=200, timeout=60
    )
    found = await env.stream_notes()
    assert len(found) == 200
    assert_in_sequence(found)


async def test_a_refused_event_holds_back_its_aggregate_only_and_is_parked_then_discarded(env):
    """A1 is too big for the server: A2 and A3 wait behind it, B flows at full speed; after the
    attempt cap A1 is parked (listed as a dead letter); discarding it lets A2 and A3 go, in order."""
    outbox.use_server_max_payload(64 * 1024 * 1024)  # the event was accepted under a larger limit
    try:
        huge = "x" * (env.nc.max_payload + 1000)
        await env.add(env.event(huge, aggregate="A"))
    finally:
        outbox.use_server_max_payload(env.nc.max_payload)
    await env.add(env.event("A2", aggregate="A"), env.event("A3", aggregate="A"))
    await env.add(*(env.event(f"B{i}", aggregate="B") for i in range(1, 301)))
    relay = relay_for(env, batch_size=50, max_attempts=3, row_backoff_base=0.05, row_backoff_max=0.1)
    task = asyncio.create_task(relay.run())
    try:
        started = asyncio.get_running_loop().time()
        await env.wait_published(300)
        assert asyncio.get_running_loop().time() - started < 10  # the bad row does not throttle the relay
        await wait_for(lambda: parked(env), timeout=10)
        async with env.sessionmaker() as session:
            page = await dead_letters.list_dead_letters(session, env.tables, kind="outbox")
        assert [item.status for item in page.items] == ["open"]
        assert "MaxPayload" in (page.items[0].error or "") and page.items[0].attempts == 3
        await asyncio.sleep(0.5)
        assert await env.count(env.tables.outbox, env.tables.outbox.c.published_at.is_(None)) == 3
        async with env.sessionmaker() as session, session.begin():
            await dead_letters.discard(session, env.tables, kind="outbox", dead_letter_id=page.items[0].id)
        await env.wait_published(302)
    finally:
        relay.stop()
        await task
    found = await env.stream_notes()
    assert [note for aggregate, _, note in found if aggregate == "A"] == ["A2", "A3"]
    assert [seq for aggregate, seq, _ in found if aggregate == "A"] == [2, 3]


async def test_a_parked_event_replayed_goes_out_before_the_rest_of_its_aggregate(env):
    outbox.use_server_max_payload(64 * 1024 * 1024)
    try:
        big = await env.add(env.event("y" * (env.nc.max_payload + 10), aggregate="A"))
    finally:
        outbox.use_server_max_payload(env.nc.max_payload)
    await env.add(env.event("A2", aggregate="A"))
    relay = relay_for(env, max_attempts=1)
    assert await relay.relay_once() == (0, 1)
    assert await env.count(env.tables.outbox, env.tables.outbox.c.parked_at.is_not(None)) == 1
    assert await relay.relay_once() == (0, 0)  # A2 stays behind the parked A1
    # The operator shrinks the event (here: by hand) and replays it.
    async with env.engine.begin() as conn:
        await conn.execute(
            env.tables.outbox.update()
            .where(env.tables.outbox.c.id == big[0].id)
            .values(envelope=big[0].model_copy(update={"data": {"note": "A1 small"}}).model_dump(mode="json"))
        )
    async with env.sessionmaker() as session, session.begin():
        await dead_letters.replay(session, env.tables, kind="outbox", dead_letter_id=str(big[0].id))
    assert await relay.relay_once() == (2, 0)
    assert [note for _, _, note in await env.stream_notes()] == ["A1 small", "A2"]


async def test_add_refuses_an_event_larger_than_the_connected_servers_max_payload(env):
    outbox.use_server_max_payload(env.nc.max_payload)
    with pytest.raises(Unprocessable) as refused:
        await env.add(env.event("z" * env.nc.max_payload, aggregate="A"))
    assert str(outbox.max_event_bytes()) in refused.value.detail
    assert refused.value.errors and refused.value.errors[0]["limit"] == outbox.max_event_bytes()
    assert await env.count(env.tables.outbox) == 0


async def test_add_refuses_a_nul_character_as_bad_input(env):
    with pytest.raises(Unprocessable):
        await env.add(env.event("bad \x00 byte", aggregate="A"))


async def test_a_round_reads_no_more_bytes_than_its_bound(env):
    await env.add(*(env.event("m" * 300_000, aggregate=f"big-{i}") for i in range(10)))
    relay = relay_for(env, batch_size=100, max_batch_bytes=1_000_000)
    rounds = []
    while published := (await relay.relay_once())[0]:
        rounds.append(published)
    assert rounds == [3, 3, 3, 1]


async def test_a_commit_with_outbox_rows_wakes_the_relay_and_other_commits_do_not(env):
    relay = relay_for(env, idle_interval=30.0)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.3)  # first (empty) round done, relay asleep for 30 s
        woken_before = relay._wake.is_set()
        async with env.sessionmaker() as session, session.begin():
            await session.execute(env.applied.insert().values(note="no event"))
        assert relay._wake.is_set() == woken_before is False
        await env.add(env.event("wake up", aggregate="A"))
        await env.wait_published(1, timeout=3)
    finally:
        relay.stop()
        await task


async def test_stop_finishes_the_round_so_nothing_in_the_stream_is_left_unmarked(env):
    await env.add(*(env.event(f"n{i}", aggregate=f"a{i % 50}") for i in range(3000)))
    relay = relay_for(env, batch_size=500)
    task = asyncio.create_task(relay.run())
    await env.wait_published(1, timeout=10, interval=0.005)
    relay.stop()
    await task
    published = await env.count(env.tables.outbox, env.tables.outbox.c.published_at.is_not(None))
    assert 0 < published < 3000
    assert len(await env.stream_notes()) == published
