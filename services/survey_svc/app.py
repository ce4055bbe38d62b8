"""survey_svc: fraud-resistant public satisfaction surveys, from questionnaire to public report."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from services.survey_svc.api.campaigns import router as campaigns_router
from services.survey_svc.api.public import router as public_router
from services.survey_svc.api.questionnaires import router as questionnaires_router
from services.survey_svc.config import Settings, get_settings
from services.survey_svc.consumers import HANDLERS
from services.survey_svc.db import TABLES
from services.survey_svc.response.intake import IntakeWriter
from services.survey_svc.response.service import SEALER, seal_all
from shared.periodic import run_periodically
from shared.service_app import create_service_app


async def start_background(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.intake_writer = None
    if settings.intake_batching:
        app.state.intake_writer = IntakeWriter(app.state.sessionmaker)
        app.state.intake_writer.start()
    if settings.run_sealer:
        # Safe with several replicas: a round runs under an advisory lock, once per interval.
        app.state.sealer = asyncio.create_task(
            run_periodically(app.state.sessionmaker, SEALER, seal_all, interval=settings.seal_interval_seconds),
            name=SEALER,
        )


async def stop_background(app: FastAPI) -> None:
    if app.state.intake_writer is not None:
        await app.state.intake_writer.stop()
    task: asyncio.Task[None] | None = getattr(app.state, "sealer", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="govperf survey service",
        routers=[questionnaires_router, campaigns_router, public_router],
        tables=TABLES,
        handlers=HANDLERS,
        on_startup=[start_background],
        on_shutdown=[stop_background],
    )
