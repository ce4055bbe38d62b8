"""Periodic tasks that are safe with several replicas: each round runs in one transaction that
first takes a transaction-level advisory lock named after the task; a replica that does not get
it skips the round, so the work runs once per interval however many replicas there are."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import committing

log = logging.getLogger("govperf.periodic")

Task = Callable[[AsyncSession], Awaitable[None]]


async def run_round(sessionmaker: async_sessionmaker[AsyncSession], name: str, task: Task) -> bool:
    """One round; False when another replica holds the lock."""
    async with sessionmaker() as session, committing(session):
        got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:n))"), {"n": f"periodic:{name}"})
        if not got:
            return False
        await task(session)
        return True


async def run_periodically(
    sessionmaker: async_sessionmaker[AsyncSession], name: str, task: Task, *, interval: float
) -> None:
    while True:
        try:
            await run_round(sessionmaker, name, task)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed round is retried next interval
            log.warning("periodic task %s failed: %s", name, exc)
        await asyncio.sleep(interval)
