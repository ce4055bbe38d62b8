"""Hash-chained logs on real PostgreSQL: concurrent writers to one chain get one unbroken chain,
and verify names the first edited, removed or reordered record."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, insert, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared import hashchain
from shared.db import committing, create_engine, make_sessionmaker

SCHEMA = "hashchain_test"
metadata = MetaData(schema=SCHEMA)
HEADS = hashchain.chain_heads_table(metadata)
entries = Table(
    "entry",
    metadata,
    Column("chain_id", UUID(as_uuid=True), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("record", JSONB, nullable=False),
)


@pytest.fixture
async def engine(infra) -> AsyncIterator:
    engine = create_engine(infra.database_url, pool_size=10)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
    yield engine
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
    await engine.dispose()


async def write(engine, chain_id: uuid.UUID, records: list[dict]) -> None:
    async with make_sessionmaker(engine)() as session, committing(session):
        links = await hashchain.append(session, HEADS, chain_id, records)
        await session.execute(
            insert(entries),
            [
                {"chain_id": chain_id, "seq": k.seq, "prev_hash": k.prev_hash, "hash": k.hash, "record": r}
                for k, r in zip(links, records, strict=True)
            ],
        )


async def check(engine, chain_id: uuid.UUID) -> hashchain.Verification:
    async with engine.connect() as conn:
        head = (await conn.execute(select(HEADS).where(HEADS.c.chain_id == chain_id))).one()
        rows = await conn.execute(
            select(entries.c.seq, entries.c.prev_hash, entries.c.hash, entries.c.record)
            .where(entries.c.chain_id == chain_id)
            .order_by(entries.c.seq)
        )
        return hashchain.verify(
            ((r.seq, r.prev_hash, r.hash, r.record) for r in rows), head_seq=head.seq, head=head.head
        )


async def test_concurrent_appends_make_one_unbroken_chain(engine) -> None:
    chain = uuid.uuid4()
    await asyncio.gather(*(write(engine, chain, [{"n": i}, {"n": i, "second": True}]) for i in range(20)))
    result = await check(engine, chain)
    assert result.ok and result.checked == 40 and result.head_seq == 40


async def test_an_edited_record_is_named(engine) -> None:
    chain = uuid.uuid4()
    await write(engine, chain, [{"answer": i} for i in range(5)])
    async with engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE {SCHEMA}.entry SET record = '{{\"answer\": 99}}' WHERE chain_id = :c AND seq = 3"),
            {"c": chain},
        )
    result = await check(engine, chain)
    assert not result.ok and result.first_broken_seq == 3 and "edited" in (result.problem or "")


async def test_a_removed_record_is_named_even_at_the_end(engine) -> None:
    chain = uuid.uuid4()
    await write(engine, chain, [{"answer": i} for i in range(5)])
    async with engine.begin() as conn:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.entry WHERE chain_id = :c AND seq = 5"), {"c": chain})
    result = await check(engine, chain)
    assert not result.ok and result.first_broken_seq == 5
    async with engine.begin() as conn:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.entry WHERE chain_id = :c AND seq = 2"), {"c": chain})
    assert (await check(engine, chain)).first_broken_seq == 2


def test_canonical_form_ignores_key_order() -> None:
    assert hashchain.link(hashchain.GENESIS, {"a": 1, "b": [1, 2]}) == hashchain.link(
        hashchain.GENESIS, {"b": [1, 2], "a": 1}
    )
    assert hashchain.link(hashchain.GENESIS, {"a": 1}) != hashchain.link(hashchain.GENESIS, {"a": 2})
