"""The overdue sweep as a periodic task (``shared.periodic``): one replica per round runs it,
and ``sweep_overdue`` itself marks each task exactly once even if two rounds ever overlapped."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.feedback_svc.task.service import sweep_overdue
from shared.periodic import PeriodicTask

log = logging.getLogger("govperf.feedback.sweep")

TASK_NAME = "feedback.overdue_sweep"


async def sweep_round(connection: AsyncConnection) -> int:
    """One round on the periodic runner's connection: mark, write the events, commit."""
    session = AsyncSession(bind=connection, expire_on_commit=False, autoflush=False)
    try:
        marked = await sweep_overdue(session)
        await session.commit()
    finally:
        await session.close()
    if marked:
        log.info("marked %s task(s) overdue", marked)
    return marked


def overdue_sweep_task(interval_seconds: float) -> PeriodicTask:
    return PeriodicTask(name=TASK_NAME, interval_seconds=interval_seconds, run=sweep_round)
