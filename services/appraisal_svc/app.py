"""appraisal_svc: who is appraised, in which cycle, against which targets, with verified data."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.appraisal_svc.api.audit import router as audit_router
from services.appraisal_svc.api.data import router as data_router
from services.appraisal_svc.api.experts import experts_router, ratings_router, vetoes_router
from services.appraisal_svc.api.improvements import router as improvements_router
from services.appraisal_svc.api.orgunits import router as orgunits_router
from services.appraisal_svc.api.plans import router as plans_router
from services.appraisal_svc.api.public import router as public_router
from services.appraisal_svc.api.publication import router as publication_router
from services.appraisal_svc.api.rollups import router as rollups_router
from services.appraisal_svc.api.scoring import router as scoring_router
from services.appraisal_svc.audit.service import anchor
from services.appraisal_svc.config import Settings, get_settings
from services.appraisal_svc.consumers import HANDLERS
from services.appraisal_svc.db import JOBS, TABLES
from services.appraisal_svc.expert import models as _expert_models  # noqa: F401 - registers the tables
from services.appraisal_svc.publication import models as _publication_models  # noqa: F401
from services.appraisal_svc.scoring import models as _scoring_models  # noqa: F401
from services.appraisal_svc.scoring.service import SCORE_PLAN, score_job
from shared.evidence import EvidenceStore
from shared.jobs import JobWorker
from shared.periodic import PeriodicTask
from shared.service_app import create_service_app


async def anchor_audit_head(conn: AsyncConnection) -> None:
    """One anchoring round in the runner's connection (it commits)."""
    session = AsyncSession(bind=conn, autoflush=False, expire_on_commit=False)
    try:
        await anchor(session)
        await session.flush()
    finally:
        await session.close()


async def start_jobs(app: FastAPI) -> None:
    """Scoring runs are jobs: any replica's worker claims them; a dead worker's job is reclaimed."""
    settings: Settings = app.state.settings
    app.state.job_worker = app.state.job_task = None
    if settings.run_jobs:
        app.state.job_worker = JobWorker(
            app.state.engine,
            app.state.sessionmaker,
            JOBS,
            {SCORE_PLAN: score_job},
            stale_after=settings.job_stale_seconds,
        )
        app.state.job_task = asyncio.create_task(app.state.job_worker.run(), name="appraisal-jobs")


async def stop_jobs(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "job_task", None)
    if task is not None:
        app.state.job_worker.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    async def open_evidence_store(app: FastAPI) -> None:
        app.state.evidence_store = EvidenceStore(settings.evidence_dir, max_bytes=settings.evidence_max_bytes)

    return create_service_app(
        settings,
        title="govperf appraisal service",
        routers=[
            orgunits_router,
            plans_router,
            data_router,
            audit_router,
            scoring_router,
            experts_router,
            ratings_router,
            vetoes_router,
            rollups_router,
            improvements_router,
            publication_router,
            public_router,
        ],
        tables=TABLES,
        handlers=HANDLERS,
        on_startup=[open_evidence_store, start_jobs],
        on_shutdown=[stop_jobs],
        periodic_tasks=[PeriodicTask("appraisal.audit-anchor", settings.audit_anchor_seconds, anchor_audit_head)],
    )
