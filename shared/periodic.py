"""Periodic work (retention, overdue sweeps) that is safe with several replicas: each round of a
task runs under a PostgreSQL advisory lock named after the task, so while one replica runs it the
others skip that round instead of doing the same work at the same time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("govperf.periodic")


@dataclass(frozen=True)
class PeriodicTask:
    """``name`` must be unique across the platform (e.g. ``indicator.retention``): it names the lock.
    ``run`` gets a connection of its own and commits its work itself (in batches, if large)."""

    name: str
    interval_seconds: float
    run: Callable[[AsyncConnection], Awaitable[object]]


async def run_once(engine: AsyncEngine, task: PeriodicTask) -> bool:
    """Run ``task`` now unless another replica holds its lock; True when it ran."""
    async with engine.connect() as lock_conn:
        got = await lock_conn.scalar(
            text("SELECT pg_try_advisory_lock(hashtextextended(:name, 0))"), {"name": task.name}
        )
        await lock_conn.commit()
        if not got:
            log.debug("periodic %s is running elsewhere; skipped", task.name)
            return False
        try:
            async with engine.connect() as work_conn:
                await task.run(work_conn)
                await work_conn.commit()
        finally:
            try:
                await lock_conn.execute(
                    text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))"), {"name": task.name}
                )
                await lock_conn.commit()
            except BaseException:
                # Never hand a connection that may still hold the lock back to the pool.
                await lock_conn.invalidate()
                raise
    return True


async def run_forever(engine: AsyncEngine, task: PeriodicTask, stopping: Callable[[], bool]) -> None:
    """Every ``interval_seconds`` (first round right away) until ``stopping()``; a failed round
    is logged and tried again next interval."""
    while not stopping():
        try:
            await run_once(engine, task)
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("periodic %s failed: %r", task.name, exc)
        deadline = asyncio.get_running_loop().time() + task.interval_seconds
        while not stopping() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(min(1.0, task.interval_seconds))
