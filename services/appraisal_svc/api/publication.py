"""REST routes of objections, rulings and re-publication."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response

from services.appraisal_svc.api.common import with_etag
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.plan.schemas import PlanRead
from services.appraisal_svc.publication import service
from services.appraisal_svc.publication.schemas import ObjectionCreate, ObjectionPage, ObjectionRead, RulingCreate
from shared import idempotency
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.deps import CurrentPrincipal
from shared.openapi import problems
from shared.pagination import PageParams, page_params
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1")


@router.post(
    "/plans/{plan_id}/objections",
    status_code=201,
    response_model=ObjectionRead,
    tags=["objections"],
    name="create",
    responses=problems(404, 409),
)
async def file_objection(
    request: Request,
    plan_id: uuid.UUID,
    data: ObjectionCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """The appraised department objects to its object's current result, in the objection period."""

    async def create() -> dict[str, Any]:
        read = await service.file_objection(session, principal=principal, plan_id=plan_id, data=data)
        return read.model_dump(mode="json")

    return await idempotency.create_once(
        session,
        TABLES,
        subject=principal.subject,
        key=idempotency_key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, data.model_dump(mode="json")),
        create=create,
        location=f"/api/v1/plans/{plan_id}/objections/{{id}}",
    )


@router.get(
    "/plans/{plan_id}/objections",
    response_model=ObjectionPage,
    tags=["objections"],
    name="list",
    responses=problems(404),
)
async def list_objections(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    status: Literal["open", "upheld", "dismissed"] | None = None,
) -> ObjectionPage:
    """Objections to the plan's results on objects in your scope."""
    items, cursor = await service.list_objections(
        session, principal=principal, plan_id=plan_id, page=page, status=status
    )
    return ObjectionPage(items=items, next_cursor=cursor)


@router.get(
    "/plans/{plan_id}/objections/{objection_id}",
    response_model=ObjectionRead,
    tags=["objections"],
    name="get",
    responses=problems(404),
)
async def get_objection(
    plan_id: uuid.UUID, objection_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response
) -> ObjectionRead:
    """One objection with its ruling; its ETag guards the ruling."""
    read = await service.get_objection(session, principal=principal, plan_id=plan_id, objection_id=objection_id)
    with_etag(response, read.lock_version)
    return read


@router.post(
    "/plans/{plan_id}/objections/{objection_id}/ruling",
    response_model=ObjectionRead,
    tags=["objections"],
    name="rule",
    responses=problems(404, 409),
)
async def rule_objection(
    plan_id: uuid.UUID,
    objection_id: uuid.UUID,
    data: RulingCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> ObjectionRead:
    """The office upholds (after correcting data or a target; rescores) or dismisses; final."""
    read = await service.rule(
        session,
        principal=principal,
        plan_id=plan_id,
        objection_id=objection_id,
        data=data,
        expected_version=expected_version(if_match),
    )
    with_etag(response, read.lock_version)
    return read


@router.post(
    "/plans/{plan_id}/republish",
    response_model=PlanRead,
    tags=["plans"],
    name="republish",
    responses=problems(404, 409),
)
async def republish_plan(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> PlanRead:
    """Publish a newer succeeded result version of a published plan (a new results event)."""
    read = await service.republish(
        session, principal=principal, plan_id=plan_id, expected_version=expected_version(if_match)
    )
    with_etag(response, read.lock_version)
    return read
