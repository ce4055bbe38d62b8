"""REST routes of joint meetings and their minutes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from services.feedback_svc.api.common import created_once, with_etag
from services.feedback_svc.meeting import service
from services.feedback_svc.meeting.schemas import MeetingCreate, MeetingPage, MeetingRead
from shared.api import IdempotencyKey
from shared.auth.deps import CurrentPrincipal
from shared.openapi import problems
from shared.pagination import PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["meetings"])


@router.post("/meetings", status_code=201, response_model=MeetingRead, name="create")
async def record_meeting(
    request: Request,
    data: MeetingCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Record a joint meeting; each resolution becomes a tracked task of its assignee."""

    async def create() -> dict[str, Any]:
        meeting = await service.record_meeting(session, principal=principal, data=data)
        return MeetingRead.model_validate(meeting).model_dump(mode="json")

    return await created_once(
        request, session, principal, idempotency_key, data.model_dump(mode="json"), create, "/api/v1/meetings/{id}"
    )


@router.get("/meetings", response_model=MeetingPage, name="list")
async def list_meetings(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    ids: Annotated[str | None, Query(max_length=20_000)] = None,
) -> MeetingPage:
    """Joint meetings in your scope, by id order; ``ids`` batch-reads."""
    items, next_cursor = await service.list_meetings(session, principal=principal, ids=parse_ids(ids), page=page)
    return MeetingPage(items=[MeetingRead.model_validate(m) for m in items], next_cursor=next_cursor)


@router.get("/meetings/{meeting_id}", response_model=MeetingRead, name="get", responses=problems(404))
async def get_meeting(
    meeting_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response
) -> MeetingRead:
    """One joint meeting."""
    meeting = await service.get_meeting(session, principal=principal, meeting_id=meeting_id)
    with_etag(response, meeting.lock_version)
    return MeetingRead.model_validate(meeting)


@router.get(
    "/meetings/{meeting_id}/minutes",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}, **problems(404)},
    name="minutes",
)
async def meeting_minutes(
    meeting_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    format: Literal["markdown"] = "markdown",
) -> PlainTextResponse:
    """The minutes as a Markdown document (agenda, members present, resolutions with their tasks)."""
    text = await service.minutes(session, principal=principal, meeting_id=meeting_id)
    filename = f"minutes-{meeting_id}.md"
    return PlainTextResponse(
        text,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
