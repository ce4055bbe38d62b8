"""Public, unauthenticated routes: the usage report and summaries of closed cases."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.feedback_svc.api.usage import build_usage_report
from services.feedback_svc.case import service as cases
from services.feedback_svc.case.schemas import PublicCasePage, PublicCaseSummary
from services.feedback_svc.usage.schemas import UsageReport
from shared.auth.principal import OrgPath
from shared.openapi import problems
from shared.pagination import PageParams, page_params
from shared.service_app import DBSession

router = APIRouter(prefix="/public/feedback", tags=["public"])


@router.get("/usage-report", response_model=UsageReport, name="usage_report", responses=problems(404))
async def public_usage_report(
    session: DBSession, cycle_id: uuid.UUID, org_path: Annotated[OrgPath, Query()] = "/"
) -> UsageReport:
    """How often published results of a cycle were followed by decisions, by grade."""
    return await build_usage_report(session, cycle_id, org_path)


@router.get("/cases", response_model=PublicCasePage, name="closed_cases")
async def public_closed_cases(
    session: DBSession, page: Annotated[PageParams, Depends(page_params)], plan_id: uuid.UUID | None = None
) -> PublicCasePage:
    """Summaries of closed improvement cases of published plans."""
    items, next_cursor = await cases.public_closed_cases(session, plan_id=plan_id, page=page)
    return PublicCasePage(items=[PublicCaseSummary.model_validate(c) for c in items], next_cursor=next_cursor)
