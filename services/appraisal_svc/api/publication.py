"""REST routes of objections, rulings and publication jobs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from services.appraisal_svc.api.common import PlanIds, plan_ids_of, with_etag
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.publication import service
from services.appraisal_svc.publication.schemas import (
    ObjectionCreate,
    ObjectionPage,
    ObjectionRead,
    PublicationPage,
    PublicationRead,
    RulingCreate,
)
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


@router.get("/objections", response_model=ObjectionPage, tags=["objections"], name="list_of_plans")
async def list_objections_of_plans(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    plan_ids: PlanIds,
    status: Literal["open", "upheld", "dismissed"] | None = None,
) -> ObjectionPage:
    """The objections of several plans in one read, as each plan's own ``/plans/{id}/objections``
    shows them to you; plans out of your sight contribute nothing."""
    items, cursor = await service.objections_of_plans(
        session, principal=principal, plan_ids=plan_ids_of(plan_ids), page=page, status=status
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
    "/plans/{plan_id}/publications",
    status_code=202,
    response_model=PublicationRead,
    tags=["publications"],
    name="create",
    responses=problems(404, 409),
)
async def request_publication(
    request: Request,
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Publish the plan (after its objection period) or a newer result version of a published
    plan, as a job: the plan is published when the job has succeeded; poll it at its Location."""
    fingerprint = idempotency.request_fingerprint(request.method, request.url.path, {"if_match": if_match})
    if idempotency_key is not None:
        stored = await idempotency.replay(
            session, TABLES, subject=principal.subject, key=idempotency_key, fingerprint=fingerprint
        )
        if stored is not None:
            status, body = stored
            location = service.publication_location(plan_id, uuid.UUID(body["id"]))
            return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true", "Location": location})
    job = await service.request_publication(
        session, principal=principal, plan_id=plan_id, expected_version=expected_version(if_match)
    )
    body = service.publication_read(job).model_dump(mode="json")
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
    worker = getattr(request.app.state, "job_worker", None)
    if worker is not None:  # the job is visible once this request commits; the worker also polls
        worker.wake()
    return JSONResponse(body, status_code=202, headers={"Location": service.publication_location(plan_id, job.id)})


@router.get(
    "/plans/{plan_id}/publications",
    response_model=PublicationPage,
    tags=["publications"],
    name="list",
    responses=problems(404),
)
async def list_publications(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
) -> PublicationPage:
    """The plan's publication jobs, oldest first."""
    items, cursor = await service.list_publications(session, principal=principal, plan_id=plan_id, page=page)
    return PublicationPage(items=items, next_cursor=cursor)


@router.get(
    "/plans/{plan_id}/publications/{publication_id}",
    response_model=PublicationRead,
    tags=["publications"],
    name="get",
    responses=problems(404),
)
async def get_publication(
    plan_id: uuid.UUID, publication_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal
) -> PublicationRead:
    """A publication job: status, progress, the result version and its event, or why it failed."""
    return await service.get_publication(session, principal=principal, plan_id=plan_id, publication_id=publication_id)
