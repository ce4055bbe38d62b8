"""REST routes of the use-of-results register and the usage report."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.feedback_svc.access import READERS, check_role
from services.feedback_svc.api.common import created_once
from services.feedback_svc.usage import service
from services.feedback_svc.usage.schemas import DecisionCreate, DecisionKind, DecisionPage, DecisionRead, UsageReport
from shared.api import IdempotencyKey
from shared.auth.deps import CurrentPrincipal
from shared.auth.principal import OrgPath
from shared.openapi import problems
from shared.pagination import PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["decisions"])

IdList = Annotated[str | None, Query(max_length=20_000)]


@router.post("/decisions", status_code=201, response_model=DecisionRead, name="create")
async def record_decision(
    request: Request,
    data: DecisionCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Record a decision that rests on a published result (finance: bonuses; supervision:
    accountability and admonishment; the performance office: the rest)."""

    async def create() -> dict[str, Any]:
        decision = await service.record_decision(session, principal=principal, data=data)
        return DecisionRead.model_validate(decision).model_dump(mode="json")

    return await created_once(
        request, session, principal, idempotency_key, data.model_dump(mode="json"), create, "/api/v1/decisions/{id}"
    )


@router.get("/decisions", response_model=DecisionPage, name="list")
async def list_decisions(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    plan_id: uuid.UUID | None = None,
    cycle_id: uuid.UUID | None = None,
    object_id: uuid.UUID | None = None,
    kind: DecisionKind | None = None,
    case_ids: IdList = None,
    ids: IdList = None,
) -> DecisionPage:
    """Decisions in your scope, by id order; ``ids``/``case_ids`` batch-read."""
    filters = service.DecisionFilters(
        plan_id=plan_id,
        cycle_id=cycle_id,
        object_id=object_id,
        kind=kind,
        case_ids=parse_ids(case_ids, field="case_ids"),
        ids=parse_ids(ids),
    )
    items, next_cursor = await service.list_decisions(session, principal=principal, filters=filters, page=page)
    return DecisionPage(items=[DecisionRead.model_validate(d) for d in items], next_cursor=next_cursor)


async def build_usage_report(session: DBSession, cycle_id: uuid.UUID, org_path: str) -> UsageReport:
    by_grade, total, kinds = await service.usage_report(session, cycle_id=cycle_id, org_path=org_path)

    def read(row: Any) -> dict[str, Any]:
        return {"grade": row.grade, "published": row.published, "followed": row.followed, "share": row.share}

    return UsageReport.model_validate(
        {
            "cycle_id": cycle_id,
            "org_path": org_path,
            "by_grade": [read(r) for r in by_grade],
            "overall": read(total),
            "decisions_by_kind": kinds,
        }
    )


@router.get("/usage-report", response_model=UsageReport, name="usage_report", responses=problems(404))
async def usage_report(
    session: DBSession,
    principal: CurrentPrincipal,
    cycle_id: uuid.UUID,
    org_path: Annotated[OrgPath, Query()] = "/",
) -> UsageReport:
    """Share of published results of a cycle followed by at least one decision, by grade."""
    check_role(principal, READERS, "read the usage report")
    return await build_usage_report(session, cycle_id, org_path)
