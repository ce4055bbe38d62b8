"""survey_svc: fraud-resistant public satisfaction surveys, from questionnaire to public report."""

from __future__ import annotations

from fastapi import FastAPI

from services.survey_svc.api.campaigns import router as campaigns_router
from services.survey_svc.api.public import router as public_router
from services.survey_svc.api.questionnaires import router as questionnaires_router
from services.survey_svc.config import Settings, get_settings
from services.survey_svc.consumers import HANDLERS
from services.survey_svc.db import TABLES
from shared.service_app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="govperf survey service",
        routers=[questionnaires_router, campaigns_router, public_router],
        tables=TABLES,
        handlers=HANDLERS,
    )
