"""Shared facilities on real PostgreSQL: the hash-chained log detects every kind of tampering and
never forks under concurrent writers; jobs run once, one at a time per subject, and survive a
dead worker; the evidence store is content-addressed (periodic rounds: tests/shared/test_retention.py)."""

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData, func, select, text
from sqlalchemy.exc import DBAPIError

from shared import hashchain, jobs
from shared.db import committing, create_engine, make_sessionmaker
from shared.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from shared.evidence import EvidenceStore

SCHEMA = "facilities_test"
metadata = MetaData(schema=SCHEMA)
LOG = hashchain.chain_table(metadata, "log")
KEYED = hashchain.chain_table(metadata, "keyed_log", keyed=True)
JOBS = jobs.job_table(metadata)


@pytest.fixture
async def engine(infra) -> AsyncIterator:
    engine = create_engine(infra.database_url, pool_size=6)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
        for statement in hashchain.append_only_sql(SCHEMA, "log"):
            await conn.execute(text(statement))
        for statement in hashchain.append_only_sql(SCHEMA, "keyed_log"):
            await conn.execute(text(statement))
    yield engine
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
    await engine.dispose()


async def write_entries(engine, n: int, start: int = 0) -> None:
    async with make_sessionmaker(engine)() as session, committing(session):
        await hashchain.append_many(
            session,
            LOG,
            [hashchain.Entry("alice", "set", "target", f"t{start + i}", {"value": str(start + i)}) for i in range(n)],
        )


async def verify(engine) -> hashchain.Verification:
    async with engine.connect() as conn:
        return await hashchain.verify(conn, LOG)


async def tamper(engine, *statements: str) -> None:
    """What a database administrator could do: switch off the triggers and rewrite rows."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await conn.execute(text(statement.replace("LOG", f"{SCHEMA}.log")))


async def test_an_intact_chain_verifies_small_and_copied_batches(engine):
    await write_entries(engine, 5)
    await write_entries(engine, 500, start=5)  # the COPY path
    result = await verify(engine)
    assert result.valid and result.entries == 505 and result.head_seq == 505
    async with engine.connect() as conn:
        assert (await hashchain.head(conn, LOG)) == (505, result.head_hash)


async def test_entries_needing_json_escapes_verify_and_a_changed_character_is_caught(engine):
    """Verification spells each entry as appending did: quotes, backslashes, control characters
    and non-ASCII names round-trip, and one changed character is still found."""
    names = ['Zoë "the auditor"', "back\\slash", "tab\tand\nnewline", "审计署", "emoji \U0001f600"]
    async with make_sessionmaker(engine)() as session, committing(session):
        await hashchain.append_many(
            session, LOG, [hashchain.Entry(name, "set", "target", name, {"note": name}) for name in names]
        )
    assert (await verify(engine)).valid
    await tamper(engine, "UPDATE LOG SET actor = 'Zoe \"the auditor\"' WHERE seq = 1")
    result = await verify(engine)
    assert not result.valid and result.first_broken_seq == 1


async def test_tampering_past_the_first_fetch_is_found_at_its_entry(engine):
    await write_entries(engine, 300)
    await tamper(engine, "UPDATE LOG SET entity_id = 'forged' WHERE seq = 257")
    async with engine.connect() as conn:
        result = await hashchain.verify(conn, LOG, batch=64)  # the entry sits in the fifth fetch
    assert not result.valid and result.first_broken_seq == 257 and result.entries == 256


async def test_update_delete_and_truncate_are_refused(engine):
    await write_entries(engine, 3)
    for statement in ("UPDATE LOG SET actor = 'mallory'", "DELETE FROM LOG WHERE seq = 2", "TRUNCATE LOG"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement.replace("LOG", f"{SCHEMA}.log")))
    assert (await verify(engine)).valid


@pytest.mark.parametrize(
    ("statements", "broken"),
    [
        (['UPDATE LOG SET payload = \'{"value":"999"}\' WHERE seq = 4'], 4),
        (["DELETE FROM LOG WHERE seq = 3"], 4),
        (  # entry 10 moved to position 6
            [
                "UPDATE LOG SET seq = seq + 100 WHERE seq >= 6",
                "UPDATE LOG SET seq = 6 WHERE seq = 110",
                "UPDATE LOG SET seq = seq - 99 WHERE seq >= 106",
            ],
            6,
        ),
        (
            [  # swap the contents of entries 2 and 3, hashes included
                "UPDATE LOG SET seq = -2 WHERE seq = 2",
                "UPDATE LOG SET seq = 2 WHERE seq = 3",
                "UPDATE LOG SET seq = 3 WHERE seq = -2",
            ],
            2,
        ),
        (  # an inserted entry with a plausible hash of its own
            [
                "ALTER TABLE LOG DROP CONSTRAINT log_prev_hash_key",
                "UPDATE LOG SET seq = seq + 100 WHERE seq >= 5",
                "UPDATE LOG SET seq = seq - 99 WHERE seq >= 105",
                "INSERT INTO LOG SELECT 5, at, actor, action, entity_type, 'forged', payload, hash, "
                "repeat('a', 64) FROM LOG WHERE seq = 4",
            ],
            5,
        ),
    ],
    ids=["edited", "deleted", "moved", "reordered", "inserted"],
)
async def test_tampering_is_detected_at_the_first_broken_entry(engine, statements, broken):
    await write_entries(engine, 10)
    await tamper(engine, *statements)
    result = await verify(engine)
    assert not result.valid
    assert result.first_broken_seq == broken, result
    assert result.problem


async def test_concurrent_writers_never_fork_the_chain(engine):
    await asyncio.gather(*(write_entries(engine, 3, start=10 * i) for i in range(8)))
    result = await verify(engine)
    assert result.valid and result.entries == 24


async def test_keyed_chains_are_appended_and_verified_each_on_its_own(engine):
    async def append(chain_key: str, n: int) -> None:
        async with make_sessionmaker(engine)() as session, committing(session):
            entries = [hashchain.Entry("w", "set", "x", f"{chain_key}{i}", {"i": i}) for i in range(n)]
            await hashchain.append_many(session, KEYED, entries, chain_key=chain_key)

    # Concurrent writers on two chains (and within each): small batches and a COPY-sized one.
    await asyncio.gather(append("a", 3), append("b", 2), append("a", 4), append("b", 250))
    async with engine.connect() as conn:
        a, b = [await hashchain.verify(conn, KEYED, chain_key=k) for k in ("a", "b")]
        assert (a.valid, a.entries, b.valid, b.entries) == (True, 7, True, 252)
        assert await hashchain.head(conn, KEYED, chain_key="a") == (7, a.head_hash)
        first = await conn.execute(text(f"SELECT chain_key, prev_hash FROM {SCHEMA}.keyed_log WHERE seq = 1"))
        assert {row.prev_hash for row in first} == {hashchain.GENESIS}  # each chain starts afresh
        with pytest.raises(ValueError, match="chain_key"):
            await hashchain.verify(conn, KEYED)
    async with engine.begin() as conn:  # an administrator rewrites an entry of chain b
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(f"UPDATE {SCHEMA}.keyed_log SET payload = '{{}}' WHERE chain_key = 'b' AND seq = 2"))
    async with engine.connect() as conn:
        a, b = [await hashchain.verify(conn, KEYED, chain_key=k) for k in ("a", "b")]
    assert a.valid and not b.valid and b.first_broken_seq == 2


async def test_one_active_job_per_subject_and_its_result_commits_with_success(engine):
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session, committing(session):
        first, created = await jobs.enqueue(session, JOBS, kind="score", subject="p1", params={}, created_by="u")
        again, created_again = await jobs.enqueue(session, JOBS, kind="score", subject="p1", params={}, created_by="u")
    assert created and not created_again and again.id == first.id
    seen: list[float] = []

    async def handler(session, job, report):
        await report(0.5)
        seen.append(float((await jobs.get(session, JOBS, job.id)).progress))
        return {"scored": job.subject}

    worker = jobs.JobWorker(engine, sessionmaker, JOBS, {"score": handler})
    assert await worker.run_one()
    assert not await worker.run_one()
    async with sessionmaker() as session:
        done = await jobs.get(session, JOBS, first.id)
    assert done.status == "succeeded" and done.result == {"scored": "p1"} and done.progress == 1
    assert seen == [0.5]
    async with sessionmaker() as session, committing(session):
        _, created = await jobs.enqueue(session, JOBS, kind="score", subject="p1", params={}, created_by="u")
    assert created  # the previous run finished, so a new one may start


async def test_enqueue_keeps_working_on_a_long_lived_connection(engine):
    # PostgreSQL plans a prepared statement generically after five executions; the ON CONFLICT
    # target must then still infer the partial unique index (a bound "status IN ($1, $2)" cannot).
    async with make_sessionmaker(engine)() as session, committing(session):  # one connection throughout
        for n in range(12):
            first, created = await jobs.enqueue(session, JOBS, kind="score", subject=f"s{n}", params={}, created_by="u")
            again, created_again = await jobs.enqueue(
                session, JOBS, kind="score", subject=f"s{n}", params={}, created_by="u"
            )
            assert created and not created_again and again.id == first.id, n


async def test_a_failing_job_is_failed_with_its_error_and_writes_nothing(engine):
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session, committing(session):
        job, _ = await jobs.enqueue(session, JOBS, kind="score", subject="p", params={}, created_by="u")

    async def handler(session, job, report):
        await hashchain.append(session, LOG, hashchain.Entry("w", "half", "x", "1", {}))
        raise ValueError("target missing")

    assert await jobs.JobWorker(engine, sessionmaker, JOBS, {"score": handler}).run_one()
    async with sessionmaker() as session:
        failed = await jobs.get(session, JOBS, job.id)
        assert await session.scalar(select(func.count()).select_from(LOG)) == 0
    assert failed.status == "failed" and "target missing" in failed.error


async def test_a_job_whose_worker_died_is_reclaimed_after_its_heartbeat_goes_stale(engine):
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session, committing(session):
        job, _ = await jobs.enqueue(session, JOBS, kind="score", subject="p", params={}, created_by="u")
    dead = jobs.JobWorker(engine, sessionmaker, JOBS, {"score": None}, stale_after=60)  # type: ignore[dict-item]
    assert (await dead.claim()).id == job.id  # ... and the process dies here
    assert await dead.claim() is None  # not stale yet
    async with engine.begin() as conn:
        await conn.execute(JOBS.update().values(heartbeat_at=func.now() - text("interval '2 minutes'")))

    async def handler(session, job, report):
        return {"attempts": job.attempts}

    assert await jobs.JobWorker(engine, sessionmaker, JOBS, {"score": handler}, stale_after=60).run_one()
    async with sessionmaker() as session:
        assert (await jobs.get(session, JOBS, job.id)).result == {"attempts": 2}


async def test_evidence_is_stored_once_under_its_hash_and_checked(tmp_path):
    store = EvidenceStore(tmp_path, max_bytes=1000)
    pdf = b"%PDF-1.7 minutes of the meeting"
    stored = await store.put(pdf, "application/pdf")
    assert stored.sha256 == hashlib.sha256(pdf).hexdigest() and stored.size == len(pdf)
    assert (await store.put(pdf, "application/pdf")) == stored
    assert await store.read(stored.sha256) == pdf
    with pytest.raises(UnsupportedMediaType):
        await store.put(b"MZ\x90\x00 an executable", "application/pdf")
    with pytest.raises(UnsupportedMediaType):
        await store.put(b"x", "application/x-msdownload")
    with pytest.raises(PayloadTooLarge):
        await store.put(b"%PDF-" + b"0" * 1000, "application/pdf")
    store.path_of(stored.sha256).write_bytes(b"%PDF- swapped")
    with pytest.raises(NotFound):
        await store.read(stored.sha256)
    with pytest.raises(NotFound):
        await store.read("../../etc/passwd")
