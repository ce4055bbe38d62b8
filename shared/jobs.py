"""Job resources for long work (scoring a plan, big imports): a row per job in the service's own
schema, claimed with ``FOR UPDATE SKIP LOCKED`` by any replica's worker, with status, progress and
a heartbeat. A worker that dies leaves a stale heartbeat; another worker reclaims the job, so jobs
survive restarts. At most one queued or running job per (kind, subject), enforced by a unique
partial index, so "one run at a time per plan" holds across replicas.

A handler does its work and writes its result in the session it is given; the worker commits the
result and the job's ``succeeded`` status together, so a job never reports success without its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import committing
from shared.ids import new_id

log = logging.getLogger("govperf.jobs")

ACTIVE = ("queued", "running")
ACTIVE_SQL = "status IN ('queued', 'running')"


def job_table(metadata: MetaData, name: str = "job") -> Table:
    return Table(
        name,
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("kind", Text, nullable=False),
        Column("subject", Text, nullable=False),  # what the job works on, e.g. a plan id
        Column("status", Text, nullable=False, server_default="queued"),
        Column("progress", Numeric(5, 4), nullable=False, server_default="0"),
        Column("params", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("result", JSONB),
        Column("error", Text),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("created_by", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("started_at", DateTime(timezone=True)),
        Column("heartbeat_at", DateTime(timezone=True)),
        Column("finished_at", DateTime(timezone=True)),
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        Index(f"uq_{name}_one_active", "kind", "subject", unique=True, postgresql_where=text(ACTIVE_SQL)),
        Index(f"ix_{name}_claimable", "created_at", postgresql_where=text(ACTIVE_SQL)),
        Index(f"ix_{name}_subject", "subject", "created_at"),
    )


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    kind: str
    subject: str
    status: str
    progress: Any
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, row: Any) -> Job:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


async def enqueue(
    session: AsyncSession, table: Table, *, kind: str, subject: str, params: dict[str, Any], created_by: str
) -> tuple[Job, bool]:
    """A new queued job, or the one already queued or running for (kind, subject) and False."""
    inserted = (
        await session.execute(
            pg_insert(table)
            .values(id=new_id(), kind=kind, subject=subject, params=params, created_by=created_by)
            # The predicate as SQL text, not bound values: a generic plan (after five executions of
            # the prepared statement) can infer the partial index only from literal values.
            .on_conflict_do_nothing(index_elements=["kind", "subject"], index_where=text(ACTIVE_SQL))
            .returning(*table.columns)
        )
    ).first()
    if inserted is not None:
        return Job.of(inserted), True
    active = (
        await session.execute(
            select(table).where(table.c.kind == kind, table.c.subject == subject, table.c.status.in_(ACTIVE))
        )
    ).first()
    if active is None:  # finished between the two statements: queue a fresh one
        return await enqueue(session, table, kind=kind, subject=subject, params=params, created_by=created_by)
    return Job.of(active), False


async def get(session: AsyncSession, table: Table, job_id: uuid.UUID) -> Job | None:
    row = (await session.execute(select(table).where(table.c.id == job_id))).first()
    return Job.of(row) if row is not None else None


JobHandler = Callable[[AsyncSession, Job, Callable[[float], Awaitable[None]]], Awaitable[dict[str, Any]]]


class JobWorker:
    """Claims and runs jobs of the kinds in ``handlers``; several workers (replicas) may run."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        table: Table,
        handlers: Mapping[str, JobHandler],
        *,
        poll_interval: float = 0.5,
        stale_after: float = 60.0,
        max_attempts: int = 3,
    ) -> None:
        self._engine, self._sessionmaker, self._table = engine, sessionmaker, table
        self._handlers = dict(handlers)
        self._poll, self._stale_after, self._max_attempts = poll_interval, stale_after, max_attempts
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def claim(self) -> Job | None:
        """The oldest queued job, or a running one whose worker stopped beating (a restart)."""
        t = self._table
        stale = text(f"now() - interval '{float(self._stale_after)} seconds'")
        claimable = (
            (t.c.status == "queued") | ((t.c.status == "running") & (t.c.heartbeat_at < stale))
        ) & t.c.kind.in_(list(self._handlers))
        async with self._engine.begin() as conn:
            await conn.execute(
                update(t)
                .where(claimable, t.c.attempts >= self._max_attempts)
                .values(status="failed", error="abandoned: the worker stopped too often", finished_at=func.now())
            )
            candidate = (
                select(t.c.id).where(claimable).order_by(t.c.created_at).limit(1).with_for_update(skip_locked=True)
            )
            row = (
                await conn.execute(
                    update(t)
                    .where(t.c.id == candidate.scalar_subquery())
                    .values(
                        status="running",
                        attempts=t.c.attempts + 1,
                        started_at=func.now(),
                        heartbeat_at=func.now(),
                        progress=0,
                    )
                    .returning(*t.columns)
                )
            ).first()
        return Job.of(row) if row is not None else None

    async def _beat(self, job_id: uuid.UUID, progress: float | None = None) -> None:
        values: dict[str, Any] = {"heartbeat_at": func.now()}
        if progress is not None:
            values["progress"] = max(0.0, min(progress, 1.0))
        async with self._engine.begin() as conn:
            await conn.execute(update(self._table).where(self._table.c.id == job_id).values(**values))

    async def _heartbeat(self, job_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self._stale_after / 4)
            with contextlib.suppress(Exception):
                await self._beat(job_id)

    async def run_one(self) -> bool:
        """Claim and run one job; False when there was none."""
        job = await self.claim()
        if job is None:
            return False
        t = self._table

        async def report(fraction: float) -> None:
            await self._beat(job.id, fraction)

        beating = asyncio.create_task(self._heartbeat(job.id))
        try:
            async with self._sessionmaker() as session, committing(session):
                result = await self._handlers[job.kind](session, job, report)
                await session.execute(
                    update(t)
                    .where(t.c.id == job.id)
                    .values(status="succeeded", progress=1, result=result, error=None, finished_at=func.now())
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the job fails, the worker lives on
            log.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(t)
                    .where(t.c.id == job.id)
                    .values(status="failed", error=str(exc)[:2000], finished_at=func.now())
                )
        finally:
            beating.cancel()
        return True

    async def run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                ran = await self.run_one()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database down: back off and retry
                log.warning("job claim failed: %s", exc)
                failures += 1
                await asyncio.sleep(min(0.2 * 2 ** min(failures, 6), 10.0))
                continue
            if not ran:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
