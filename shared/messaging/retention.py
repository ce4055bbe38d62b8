"""Retention of the messaging tables: published outbox rows, inbox rows, idempotency keys and
resolved dead letters are deleted after configurable ages, in batches (short locks, bounded WAL)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.messaging.tables import MessagingTables
from shared.periodic import PeriodicTask


@dataclass(frozen=True)
class RetentionPolicy:
    """Ages in days. Keep ``inbox_days`` above the stream's max_age: the inbox is what stops a
    redelivered event from being applied twice."""

    outbox_days: float = 7.0
    inbox_days: float = 30.0
    idempotency_days: float = 7.0
    dead_letter_days: float = 30.0
    batch_size: int = 10_000


def _older_than(column: ColumnElement[object], days: float) -> ColumnElement[bool]:
    return column < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, days * 86400.0)


async def _delete_in_batches(conn: AsyncConnection, table: Table, condition: ColumnElement[bool], batch: int) -> int:
    key = list(table.primary_key.columns)
    total = 0
    while True:
        victims = select(*key).where(condition).limit(batch)
        deleted = (await conn.execute(delete(table).where(tuple_(*key).in_(victims)))).rowcount or 0
        await conn.commit()
        total += deleted
        if deleted < batch:
            return total


async def prune(conn: AsyncConnection, tables: MessagingTables, policy: RetentionPolicy) -> dict[str, int]:
    """Delete what is past its age; returns rows deleted per table."""
    outbox, dead_letter = tables.outbox, tables.dead_letter
    work = {
        "outbox": (
            outbox,
            or_(
                _older_than(outbox.c.published_at, policy.outbox_days),
                _older_than(outbox.c.discarded_at, policy.outbox_days),
            ),
        ),
        "inbox": (tables.inbox, _older_than(tables.inbox.c.processed_at, policy.inbox_days)),
        "idempotency_key": (tables.idempotency, _older_than(tables.idempotency.c.created_at, policy.idempotency_days)),
        "dead_letter": (
            dead_letter,
            and_(
                dead_letter.c.status.in_(["replayed", "discarded"]),
                _older_than(dead_letter.c.resolved_at, policy.dead_letter_days),
            ),
        ),
    }
    return {
        name: await _delete_in_batches(conn, table, condition, policy.batch_size)
        for name, (table, condition) in work.items()
    }


def retention_task(
    tables: MessagingTables, policy: RetentionPolicy, *, interval_seconds: float = 600.0
) -> PeriodicTask:
    async def run(conn: AsyncConnection) -> dict[str, int]:
        return await prune(conn, tables, policy)

    return PeriodicTask(name=f"retention:{tables.outbox.fullname}", interval_seconds=interval_seconds, run=run)
