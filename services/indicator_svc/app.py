"""indicator_svc: versioned indicator frameworks."""

from __future__ import annotations

from fastapi import FastAPI

from services.indicator_svc.api.frameworks import router as frameworks_router
from services.indicator_svc.config import Settings, get_settings
from services.indicator_svc.consumers import HANDLERS
from services.indicator_svc.db import TABLES
from services.indicator_svc.framework.schemas import FrameworkRead
from shared.cache import ImmutableCache
from shared.service_app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_service_app(
        settings,
        title="govperf indicator service",
        routers=[frameworks_router],
        tables=TABLES,
        handlers=HANDLERS,
        description="Versioned indicator frameworks: indicator trees, weights, scoring rules, validation and "
        "balance reports, versions, templates and diffs, YAML/JSON/Excel import and export.",
        tags=[{"name": "frameworks", "description": "Indicator frameworks, their indicators and their versions."}],
    )
    app.state.published_frameworks = ImmutableCache[FrameworkRead](ttl_seconds=settings.published_cache_seconds)
    return app
