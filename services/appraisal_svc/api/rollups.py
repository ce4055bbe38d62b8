"""REST routes of roll-ups (annual and term results from their sub-cycles) and peacetime monitoring."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from services.appraisal_svc.rollup import service
from services.appraisal_svc.rollup.schemas import MonitoringPage, RollupPage
from shared.auth.deps import CurrentPrincipal
from shared.openapi import problems
from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["rollups"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("/plans/{plan_id}/rollup", name="get", response_model=RollupPage, responses=problems(404, 409))
async def get_rollup(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> RollupPage:
    """Per object: each sub-cycle's published composite, the rolled-up composite by the plan's rule, what is missing."""
    return await service.rollup(
        session,
        principal=principal,
        plan_id=plan_id,
        limit=limit,
        after=decode_cursor(cursor) if cursor else None,
    )


@router.get("/plans/{plan_id}/monitoring", name="monitor", response_model=MonitoringPage, responses=problems(404, 409))
async def get_monitoring(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    tolerance: Annotated[Decimal, Query(ge=0, le=1, decimal_places=6)] = Decimal("0.1"),
    as_of: Annotated[
        dt.date | None, Query(description="The day to measure the elapsed share at; default today.")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> MonitoringPage:
    """Quantitative leaves of a collecting plan whose attainment lags the elapsed cycle share by over ``tolerance``."""
    return await service.monitoring(
        session,
        principal=principal,
        plan_id=plan_id,
        tolerance=tolerance,
        as_of=as_of or dt.datetime.now(dt.UTC).date(),
        limit=limit,
        after=service.decode_pair(cursor) if cursor else None,
    )
