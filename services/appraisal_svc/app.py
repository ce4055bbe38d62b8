"""appraisal_svc: who is appraised, in which cycle, against which targets, with verified data."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from services.appraisal_svc.api.audit import router as audit_router
from services.appraisal_svc.api.data import router as data_router
from services.appraisal_svc.api.orgunits import router as orgunits_router
from services.appraisal_svc.api.plans import router as plans_router
from services.appraisal_svc.audit.service import anchor
from services.appraisal_svc.config import Settings, get_settings
from services.appraisal_svc.consumers import HANDLERS
from services.appraisal_svc.db import TABLES
from shared.evidence import EvidenceStore
from shared.periodic import run_periodically
from shared.service_app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    async def start_background(app: FastAPI) -> None:
        app.state.evidence_store = EvidenceStore(settings.evidence_dir, max_bytes=settings.evidence_max_bytes)

        app.state.background = [
            asyncio.create_task(
                run_periodically(
                    app.state.sessionmaker, "audit-anchor", anchor, interval=settings.audit_anchor_seconds
                ),
                name="audit-anchor",
            )
        ]

    async def stop_background(app: FastAPI) -> None:
        for task in app.state.background:
            task.cancel()
        for task in app.state.background:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return create_service_app(
        settings,
        title="govperf appraisal service",
        routers=[orgunits_router, plans_router, data_router, audit_router],
        tables=TABLES,
        handlers=HANDLERS,
        on_startup=[start_background],
        on_shutdown=[stop_background],
    )
