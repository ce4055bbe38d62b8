"""REST routes of scoring runs (job resources), league tables and explain trees."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.appraisal_svc.api.common import PlanIds, plan_ids_of
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.plan.schemas import PeerGroup
from services.appraisal_svc.scoring import batch, reads, service
from services.appraisal_svc.scoring.schemas import (
    LeagueTableOfPlan,
    LeagueTablePage,
    ResultExplain,
    ResultExplainPage,
    ResultPage,
    ScoringRunPage,
    ScoringRunRead,
    ScoringRunRequest,
)
from shared import idempotency
from shared.api import IdempotencyKey
from shared.auth.deps import CurrentPrincipal
from shared.errors import BadRequest
from shared.openapi import problems
from shared.pagination import MAX_LIMIT, PageParams, page_params, parse_ids
from shared.reads import DBReader
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["scoring"])
REQUESTED = ScoringRunRequest()
Version = Annotated[int | None, Query(ge=1, le=1_000_000, description="Result version; default the latest.")]


def run_location(plan_id: uuid.UUID, run_id: Any) -> str:
    return f"/api/v1/plans/{plan_id}/scoring-runs/{run_id}"


@router.post(
    "/plans/{plan_id}/scoring-runs",
    status_code=202,
    response_model=ScoringRunRead,
    name="create_run",
    responses=problems(404, 409),
)
async def create_run(
    request: Request,
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    data: Annotated[ScoringRunRequest, Body()] = REQUESTED,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Score the plan as a job: a new result version; poll the run at its Location."""
    fingerprint = idempotency.request_fingerprint(request.method, request.url.path, data.model_dump(mode="json"))
    if idempotency_key is not None:
        stored = await idempotency.replay(
            session, TABLES, subject=principal.subject, key=idempotency_key, fingerprint=fingerprint
        )
        if stored is not None:
            status, body = stored
            headers = {"Idempotent-Replayed": "true", "Location": run_location(plan_id, body["id"])}
            return JSONResponse(body, status_code=status, headers=headers)
    run = await service.request_run(session, principal=principal, plan_id=plan_id, reason=data.reason)
    body = (await service.run_read(session, run)).model_dump(mode="json")
    if idempotency_key is not None:
        await idempotency.remember(
            session,
            TABLES,
            subject=principal.subject,
            key=idempotency_key,
            fingerprint=fingerprint,
            status_code=202,
            response=body,
        )
    return JSONResponse(body, status_code=202, headers={"Location": run_location(plan_id, run.id)})


@router.get("/plans/{plan_id}/scoring-runs", response_model=ScoringRunPage, name="list_runs")
async def list_runs(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
) -> ScoringRunPage:
    """The plan's scoring runs, oldest first; every version stays readable."""
    items, cursor = await service.list_runs(session, principal=principal, plan_id=plan_id, page=page)
    return ScoringRunPage(items=items, next_cursor=cursor)


@router.get(
    "/plans/{plan_id}/scoring-runs/{run_id}", response_model=ScoringRunRead, name="get_run", responses=problems(404)
)
async def get_run(
    plan_id: uuid.UUID, run_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal
) -> ScoringRunRead:
    """A run: status, progress, timings per phase, counts, hashes, and why it failed."""
    return await service.get_run(session, principal=principal, plan_id=plan_id, run_id=run_id)


@router.get("/plans/{plan_id}/results", response_model=ResultPage, name="list_results", responses=problems(404))
async def list_results(
    plan_id: uuid.UUID,
    reader: DBReader,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    version: Version = None,
    peer_group: Annotated[PeerGroup | None, Query()] = None,
) -> ResultPage:
    """The league table of a result version: composite, grade and rank by peer group."""
    run_id, run_version, items, cursor = await reads.league_table(
        reader, principal=principal, plan_id=plan_id, version=version, peer_group=peer_group, page=page
    )
    return ResultPage(items=items, next_cursor=cursor, run_id=run_id, version=run_version)


@router.get(
    "/plans/{plan_id}/results/{object_id}", response_model=ResultExplain, name="explain", responses=problems(404)
)
async def explain(
    plan_id: uuid.UUID, object_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, version: Version = None
) -> ResultExplain:
    """One object's result as a tree: every number can be recomputed by hand."""
    return await service.explain_for(
        session, principal=principal, plan_id=plan_id, object_id=object_id, version=version
    )


@router.get("/scoring-runs", response_model=ScoringRunPage, name="list_runs_of_plans")
async def list_runs_of_plans(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    plan_ids: PlanIds,
) -> ScoringRunPage:
    """The scoring runs of several plans in one read, as each plan's own ``/plans/{id}/scoring-runs``
    shows them to you; plans out of your sight contribute nothing."""
    items, cursor = await batch.runs_of_plans(session, principal=principal, plan_ids=plan_ids_of(plan_ids), page=page)
    return ScoringRunPage(items=items, next_cursor=cursor)


@router.get("/results", response_model=LeagueTablePage, name="list_tables_of_plans", responses=problems(422))
async def list_tables_of_plans(
    session: DBSession,
    principal: CurrentPrincipal,
    plan_ids: PlanIds,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per plan.")] = 50,
    peer_group: Annotated[PeerGroup | None, Query()] = None,
) -> LeagueTablePage:
    """The first page of the latest league table of several plans in one read (plans x limit at
    most 10,000), as each plan's ``/plans/{id}/results`` shows it to you; plans out of your sight or
    without results contribute nothing."""
    tables = await batch.league_tables_of_plans(
        session, principal=principal, plan_ids=plan_ids_of(plan_ids), peer_group=peer_group, limit=limit
    )
    return LeagueTablePage(
        items=[
            LeagueTableOfPlan(
                plan_id=t.plan_id, run_id=t.run_id, version=t.version, items=t.items, next_cursor=t.next_cursor
            )
            for t in tables
        ],
        next_cursor=None,
    )


@router.get("/plans/{plan_id}/explains", response_model=ResultExplainPage, name="explain_many", responses=problems(404))
async def explain_many(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    object_ids: Annotated[str, Query(max_length=4_000, description="Comma-separated object ids (at most 100).")],
    version: Version = None,
) -> ResultExplainPage:
    """The explain trees of several objects in one read (at most 100), each as
    ``/plans/{id}/results/{object_id}`` shows it to you; objects without a result you may see are left out."""
    ids = parse_ids(object_ids, field="object_ids", max_ids=batch.MAX_EXPLAINS) or []
    if not ids:
        raise BadRequest("object_ids names no object.", errors=[{"field": "object_ids", "message": "empty"}])
    items = await batch.explains_of_objects(
        session, principal=principal, plan_id=plan_id, object_ids=ids, version=version
    )
    return ResultExplainPage(items=items, next_cursor=None)
