"""REST routes of expert assignments, sealed expert ratings and veto events of a plan."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from services.appraisal_svc.db import TABLES
from services.appraisal_svc.expert import service
from services.appraisal_svc.expert.schemas import (
    ExpertAssignmentBatch,
    ExpertAssignmentBatchResult,
    ExpertAssignmentPage,
    ExpertRatingPage,
    ExpertRatingPut,
    ExpertRatingRead,
    UserId,
    VetoEventCreate,
    VetoEventPage,
    VetoEventRead,
    VetoWithdraw,
)
from shared import idempotency
from shared.api import IdempotencyKey
from shared.auth.deps import CurrentPrincipal
from shared.openapi import problems
from shared.pagination import PageParams, page_params
from shared.service_app import DBSession

experts_router = APIRouter(prefix="/api/v1", tags=["expert assignments"])
ratings_router = APIRouter(prefix="/api/v1", tags=["expert ratings"])
vetoes_router = APIRouter(prefix="/api/v1", tags=["veto events"])
Page = Annotated[PageParams, Depends(page_params)]


@experts_router.post(
    "/plans/{plan_id}/expert-assignments",
    name="create",
    status_code=201,
    response_model=ExpertAssignmentBatchResult,
    responses=problems(404, 409),
)
async def create_assignments(
    plan_id: uuid.UUID,
    request: Request,
    data: ExpertAssignmentBatch,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Assign experts to objects and graded leaves, all or nothing (a conflict of interest: 409 naming the rows)."""

    async def create() -> dict[str, Any]:
        ids = await service.create_assignments(session, principal=principal, plan_id=plan_id, data=data)
        return ExpertAssignmentBatchResult(created=len(ids), ids=ids).model_dump(mode="json")

    return await idempotency.create_once(
        session,
        TABLES,
        subject=principal.subject,
        key=idempotency_key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, data.model_dump(mode="json")),
        create=create,
        location=f"/api/v1/plans/{plan_id}/expert-assignments",
    )


@experts_router.get("/plans/{plan_id}/expert-assignments", name="list", response_model=ExpertAssignmentPage)
async def list_assignments(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    page: Page,
    mine: bool = False,
    object_id: uuid.UUID | None = None,
    expert: Annotated[UserId | None, Query()] = None,
) -> ExpertAssignmentPage:
    """The plan's expert panel in your scope (rated or not, never the grade); an expert sees their own."""
    items, cursor = await service.list_assignments(
        session, principal=principal, plan_id=plan_id, page=page, mine=mine, object_id=object_id, expert=expert
    )
    return ExpertAssignmentPage(items=items, next_cursor=cursor)


@experts_router.delete(
    "/plans/{plan_id}/expert-assignments/{assignment_id}",
    name="delete",
    status_code=204,
    responses=problems(404, 409),
)
async def delete_assignment(
    plan_id: uuid.UUID, assignment_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal
) -> Response:
    """Withdraw an assignment before the rating window closes (its rating, if any, goes with it)."""
    await service.delete_assignment(session, principal=principal, plan_id=plan_id, assignment_id=assignment_id)
    return Response(status_code=204)


@ratings_router.put(
    "/plans/{plan_id}/expert-ratings/{assignment_id}",
    name="put",
    response_model=ExpertRatingRead,
    responses=problems(404, 409),
)
async def put_rating(
    plan_id: uuid.UUID,
    assignment_id: uuid.UUID,
    data: ExpertRatingPut,
    session: DBSession,
    principal: CurrentPrincipal,
) -> ExpertRatingRead:
    """Give or change your sealed rating under your assignment until the rating window closes."""
    return await service.put_rating(
        session, principal=principal, plan_id=plan_id, assignment_id=assignment_id, data=data
    )


@ratings_router.get("/plans/{plan_id}/expert-ratings", name="list", response_model=ExpertRatingPage)
async def list_ratings(
    plan_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, page: Page, mine: bool = False
) -> ExpertRatingPage:
    """``mine=true``: your own ratings; else the plan's ratings in your scope, grades sealed until the window closes."""
    items, cursor = await service.list_ratings(session, principal=principal, plan_id=plan_id, page=page, mine=mine)
    return ExpertRatingPage(items=items, next_cursor=cursor)


@vetoes_router.post(
    "/plans/{plan_id}/veto-events",
    name="create",
    status_code=201,
    response_model=VetoEventRead,
    responses=problems(404, 409),
)
async def record_veto(
    plan_id: uuid.UUID,
    request: Request,
    data: VetoEventCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Record a veto event on an object of the plan, by a code one of its veto leaves lists."""

    async def create() -> dict[str, Any]:
        return (await service.record_veto(session, principal=principal, plan_id=plan_id, data=data)).model_dump(
            mode="json"
        )

    return await idempotency.create_once(
        session,
        TABLES,
        subject=principal.subject,
        key=idempotency_key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, data.model_dump(mode="json")),
        create=create,
        location=f"/api/v1/plans/{plan_id}/veto-events",
    )


@vetoes_router.post(
    "/plans/{plan_id}/veto-events/{veto_id}/withdraw",
    name="withdraw",
    response_model=VetoEventRead,
    responses=problems(404, 409),
)
async def withdraw_veto(
    plan_id: uuid.UUID, veto_id: uuid.UUID, data: VetoWithdraw, session: DBSession, principal: CurrentPrincipal
) -> VetoEventRead:
    """Withdraw a veto event with a reason (once; it stays on record)."""
    return await service.withdraw_veto(
        session, principal=principal, plan_id=plan_id, veto_id=veto_id, reason=data.reason
    )


@vetoes_router.get("/plans/{plan_id}/veto-events", name="list", response_model=VetoEventPage)
async def list_vetoes(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    page: Page,
    object_id: uuid.UUID | None = None,
    active: bool | None = None,
) -> VetoEventPage:
    """The plan's veto events on objects in your scope; ``active`` filters withdrawn ones out (or in)."""
    items, cursor = await service.list_vetoes(
        session, principal=principal, plan_id=plan_id, page=page, object_id=object_id, active=active
    )
    return VetoEventPage(items=items, next_cursor=cursor)
