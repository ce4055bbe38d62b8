"""Hash-chained append-only logs: each record's hash covers the previous hash and the record's
canonical JSON, so editing, deleting or reordering any record breaks every later link.

A service keeps one chain per aggregate (e.g. per survey campaign): its rows carry
``seq``/``prev_hash``/``hash`` and a ``chain_head`` row holds the newest link. ``append`` locks the
head row, so concurrent writers to one chain serialize there and to nothing else; ``verify``
recomputes a chain from its rows and names the first broken link."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, Table, Text, select, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

GENESIS = "0" * 64


def canonical(record: Mapping[str, Any]) -> bytes:
    """One byte string per record whatever the key order; non-JSON values (UUIDs, dates) as str."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def link(prev_hash: str, record: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(record)).hexdigest()


def chain_heads_table(metadata: MetaData) -> Table:
    """The newest link of every chain in a schema (``seq`` 0 and GENESIS before the first record)."""
    return Table(
        "chain_head",
        metadata,
        Column("chain_id", UUID(as_uuid=True), primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("head", Text, nullable=False),
    )


@dataclass(frozen=True)
class Link:
    seq: int
    prev_hash: str
    hash: str


async def lock_head(session: AsyncSession, heads: Table, chain_id: uuid.UUID) -> tuple[int, str]:
    """Create the chain's head if new and lock it until the transaction ends; its (seq, head).
    A writer that must choose what to append under the lock (a sealer reading pending records)
    calls this first; ``append`` calls it anyway."""
    await session.execute(pg_insert(heads).values(chain_id=chain_id, seq=0, head=GENESIS).on_conflict_do_nothing())
    row = (
        await session.execute(select(heads.c.seq, heads.c.head).where(heads.c.chain_id == chain_id).with_for_update())
    ).one()
    return int(row.seq), str(row.head)


async def append(
    session: AsyncSession, heads: Table, chain_id: uuid.UUID, records: Sequence[Mapping[str, Any]]
) -> list[Link]:
    """The links of ``records`` appended in order to ``chain_id``; the caller inserts the rows with
    them in the same transaction. The head row stays locked until that transaction ends."""
    seq, head = await lock_head(session, heads, chain_id)
    links = []
    for record in records:
        seq += 1
        new_head = link(head, record)
        links.append(Link(seq=seq, prev_hash=head, hash=new_head))
        head = new_head
    if links:
        await session.execute(update(heads).where(heads.c.chain_id == chain_id).values(seq=seq, head=head))
    return links


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head_seq: int
    head: str
    first_broken_seq: int | None = None
    problem: str | None = None


def verify(rows: Iterable[tuple[int, str, str, Mapping[str, Any]]], *, head_seq: int, head: str) -> Verification:
    """Recompute a chain from ``(seq, prev_hash, hash, record)`` rows in seq order and compare its
    end with the stored head (which catches records removed from the end)."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0

    def broken(seq: int, problem: str) -> Verification:
        return Verification(False, checked, head_seq, head, first_broken_seq=seq, problem=problem)

    for seq, prev_hash, stored_hash, record in rows:
        if seq != expected_seq:
            return broken(expected_seq, f"record {expected_seq} is missing (found {seq})")
        if prev_hash != expected_prev:
            return broken(seq, "its previous-hash does not match the record before it")
        if link(prev_hash, record) != stored_hash:
            return broken(seq, "its content does not match its hash (edited)")
        expected_prev, expected_seq, checked = stored_hash, seq + 1, checked + 1
    if checked != head_seq or expected_prev != head:
        return broken(checked + 1, f"the chain ends at record {checked} but its head says {head_seq}")
    return Verification(True, checked, head_seq, head)
