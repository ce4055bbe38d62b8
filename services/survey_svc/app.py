"""survey_svc: fraud-resistant public satisfaction surveys, from questionnaire to public report."""

from __future__ import annotations

import asyncio
import contextlib
import functools

from fastapi import FastAPI

from services.survey_svc.analysis.service import ANALYSE, analyse_job
from services.survey_svc.api.campaigns import router as campaigns_router
from services.survey_svc.api.public import FAST_ROUTES as PUBLIC_FAST_ROUTES
from services.survey_svc.api.public import router as public_router
from services.survey_svc.api.questionnaires import router as questionnaires_router
from services.survey_svc.config import Settings, get_settings
from services.survey_svc.consumers import HANDLERS
from services.survey_svc.db import JOBS, TABLES
from services.survey_svc.response.intake import IntakeWriter
from services.survey_svc.response.service import SEALER, seal_round, token_lookup
from shared.jobs import JobWorker
from shared.periodic import PeriodicTask
from shared.reads import open_read_pool
from shared.service_app import create_service_app


async def start_background(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.intake_writer = app.state.intake_pool = app.state.token_lookup = None
    if settings.intake_batching:
        app.state.token_lookup = token_lookup(app.state.reader)
        app.state.token_lookup.start()
        # Its own connections: queued requests waiting for the shared pool must never delay the
        # writes that would let them all finish. One per batch the gateway may have in flight, so
        # batches write side by side and their commits share WAL flushes.
        app.state.intake_pool = await open_read_pool(app.state.engine, max_size=settings.intake_write_connections)
        app.state.intake_writer = IntakeWriter(app.state.intake_pool)
        app.state.intake_writer.start()
    if settings.run_job_worker:
        # A job requested here wakes the worker at once; the poll only finds other replicas' jobs
        # and abandoned ones, and each poll is two statements in the loop intake shares.
        app.state.job_worker = JobWorker(
            app.state.engine, app.state.sessionmaker, JOBS, {ANALYSE: analyse_job}, poll_interval=2.0
        )
        app.state.job_task = asyncio.create_task(app.state.job_worker.run(), name="survey-jobs")


async def stop_background(app: FastAPI) -> None:
    if app.state.token_lookup is not None:
        await app.state.token_lookup.stop()
    if app.state.intake_writer is not None:
        await app.state.intake_writer.stop()
        await app.state.intake_pool.close()
    if getattr(app.state, "job_worker", None) is not None:
        app.state.job_worker.stop()
    task: asyncio.Task[None] | None = getattr(app.state, "job_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Safe with several replicas: a round runs under an advisory lock, on one replica at a time.
    sealer = PeriodicTask(
        name=SEALER,
        interval_seconds=settings.seal_interval_seconds,
        run=functools.partial(seal_round, batch=settings.seal_batch_size),
    )
    return create_service_app(
        settings,
        title="govperf survey service",
        routers=[questionnaires_router, campaigns_router, public_router],
        tables=TABLES,
        handlers=HANDLERS,
        on_startup=[start_background],
        on_shutdown=[stop_background],
        periodic_tasks=[sealer] if settings.run_sealer else [],
        fast_routes=PUBLIC_FAST_ROUTES,
        description=(
            "Public satisfaction surveys: versioned questionnaires (XLSForm), campaigns, single-use "
            "respondent tokens, investigators' quotas, append-only hash-chained responses with quality "
            "checks, weighted indices with confidence intervals, public reports."
        ),
        tags=[
            {"name": "questionnaires", "description": "Versioned questionnaires; XLSForm import and export."},
            {"name": "campaigns", "description": "Campaigns, tokens, quotas, interviews, analyses, publication."},
            {"name": "public", "description": "Respondent page, response intake and reports; no token."},
        ],
    )
