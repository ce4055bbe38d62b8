"""feedback_svc: improvement cases, counseling, rectification, use of results, joint meetings."""

from __future__ import annotations

from fastapi import FastAPI

from services.feedback_svc.api.cases import router as cases_router
from services.feedback_svc.api.meetings import router as meetings_router
from services.feedback_svc.api.public import router as public_router
from services.feedback_svc.api.tasks import router as tasks_router
from services.feedback_svc.api.usage import router as usage_router
from services.feedback_svc.case.by_reference import PublishedObjects
from services.feedback_svc.config import Settings, get_settings
from services.feedback_svc.consumers import handlers
from services.feedback_svc.db import TABLES
from services.feedback_svc.sweeper import overdue_sweep_task
from shared.evidence import EvidenceStore
from shared.service_app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    by_reference = PublishedObjects(
        settings.appraisal_url,
        timeout_seconds=settings.appraisal_timeout_seconds,
        max_objects=settings.max_results_objects,
    )

    async def close_by_reference(app: FastAPI) -> None:
        await by_reference.close()

    app = create_service_app(
        settings,
        title="govperf feedback service",
        routers=[cases_router, tasks_router, usage_router, meetings_router, public_router],
        tables=TABLES,
        handlers=handlers(by_reference),
        on_shutdown=[close_by_reference],
        description="The improvement loop: cases opened from published appraisal results with recommendations, "
        "counseling sessions, rectification tasks with evidence, extensions, outsider verification and overdue "
        "escalation, the use-of-results register and usage report, joint meetings and their minutes.",
        tags=[
            {"name": "cases", "description": "Improvement cases, their recommendations, policy and counseling."},
            {"name": "tasks", "description": "Rectification tasks: progress with evidence, extensions, verification."},
            {"name": "decisions", "description": "Use of results: decisions citing a published result; usage report."},
            {"name": "meetings", "description": "Joint meetings of the member units; resolutions become tasks."},
            {"name": "public", "description": "The usage report and closed cases, without a token."},
        ],
        periodic_tasks=[overdue_sweep_task(settings.overdue_sweep_seconds)] if settings.overdue_sweep_seconds else [],
    )
    app.state.evidence = EvidenceStore(settings.evidence_dir, max_bytes=settings.max_evidence_bytes)
    return app
