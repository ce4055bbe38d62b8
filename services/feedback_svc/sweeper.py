"""Runs the overdue sweep in this replica every ``overdue_sweep_seconds``.

Several replicas may run it at once: ``sweep_overdue`` marks each task exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from services.feedback_svc.task.service import sweep_overdue
from shared.db import committing

log = logging.getLogger("govperf.feedback.sweep")


async def run_sweep_once(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session, committing(session):
        marked = await sweep_overdue(session)
    if marked:
        log.info("marked %s task(s) overdue", marked)
        app.state.relay.wake()
    return marked


async def sweep_forever(app: FastAPI, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_sweep_once(app)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - database down: try again next round
            log.warning("overdue sweep failed: %s", exc)


async def start_sweeper(app: FastAPI) -> None:
    interval = app.state.settings.overdue_sweep_seconds
    app.state.sweeper = asyncio.create_task(sweep_forever(app, interval), name="overdue-sweep") if interval else None


async def stop_sweeper(app: FastAPI) -> None:
    task = app.state.sweeper
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
