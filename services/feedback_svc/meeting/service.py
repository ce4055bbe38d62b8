"""Joint meeting use cases. They flush; the caller commits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback_svc.access import OFFICE, check_readable, check_role, readable_filter
from services.feedback_svc.case.models import ImprovementCase
from services.feedback_svc.meeting import logic
from services.feedback_svc.meeting.models import JointMeeting
from services.feedback_svc.meeting.schemas import MeetingCreate
from services.feedback_svc.task.models import Task
from shared.auth.principal import Principal
from shared.errors import Forbidden, NotFound, Unprocessable
from shared.ids import new_id
from shared.pagination import PageParams, paginate


async def record_meeting(session: AsyncSession, *, principal: Principal, data: MeetingCreate) -> JointMeeting:
    check_role(principal, OFFICE, "record joint meetings")
    if not principal.in_scope(data.org_path):
        raise Forbidden("The meeting's org unit is outside your scope.")
    cited = {item.case_id for item in data.agenda} | {r.case_id for r in data.resolutions if r.case_id}
    found = {
        row.id: row.org_path
        for row in await session.execute(
            select(ImprovementCase.id, ImprovementCase.org_path).where(ImprovementCase.id.in_(cited))
        )
    }
    errors = [
        {"field": f"agenda.{i}.case_id", "message": "no such case in the meeting's unit"}
        for i, item in enumerate(data.agenda)
        if item.case_id not in found or not principal.in_scope(found[item.case_id])
    ] + [
        {"field": f"resolutions.{i}.case_id", "message": "no such case in the meeting's unit"}
        for i, r in enumerate(data.resolutions)
        if r.case_id is not None and (r.case_id not in found or not principal.in_scope(found[r.case_id]))
    ]
    errors += [
        {"field": f"resolutions.{i}.assignee_org_path", "message": "outside your scope"}
        for i, r in enumerate(data.resolutions)
        if not principal.in_scope(r.assignee_org_path)
    ]
    if errors:
        raise Unprocessable("The meeting cites cases or assignees it cannot.", errors=errors)
    meeting = JointMeeting(
        id=new_id(),
        org_unit_id=data.org_unit_id,
        org_path=data.org_path,
        title=data.title,
        held_on=data.held_on,
        members_present=list(data.members_present),
        agenda=[item.model_dump(mode="json") for item in data.agenda],
        resolutions=[],
        recorded_by=principal.subject,
        lock_version=1,
    )
    session.add(meeting)
    await session.flush()
    resolutions = []
    for res in data.resolutions:
        task = Task(
            id=new_id(),
            case_id=res.case_id,
            meeting_id=meeting.id,
            title=res.text[:300],
            description=res.text,
            owner_unit_id=res.assignee_unit_id,
            owner_org_path=res.assignee_org_path,
            scope_org_path=data.org_path,
            deadline=res.deadline,
            status="open",
            percent_done=0,
            ever_overdue=False,
            created_by=principal.subject,
            lock_version=1,
        )
        session.add(task)
        resolutions.append(res.model_dump(mode="json") | {"task_id": str(task.id)})
    meeting.resolutions = resolutions
    await session.flush()
    return meeting


async def get_meeting(session: AsyncSession, *, principal: Principal, meeting_id: uuid.UUID) -> JointMeeting:
    meeting = await session.get(JointMeeting, meeting_id)
    if meeting is None:
        raise NotFound("No such meeting.")
    check_readable(principal, meeting.org_path, "meeting")
    return meeting


async def list_meetings(
    session: AsyncSession, *, principal: Principal, ids: list[uuid.UUID] | None, page: PageParams
) -> tuple[list[JointMeeting], str | None]:
    stmt: Select[Any] = select(JointMeeting).where(readable_filter(principal, JointMeeting.org_path))
    if ids is not None:
        stmt = stmt.where(JointMeeting.id.in_(ids))
    return await paginate(session, stmt, JointMeeting.id, page)


async def minutes(session: AsyncSession, *, principal: Principal, meeting_id: uuid.UUID) -> str:
    meeting = await get_meeting(session, principal=principal, meeting_id=meeting_id)
    case_ids = [uuid.UUID(item["case_id"]) for item in meeting.agenda]
    names = {
        str(row.id): f"{row.object_name}, {row.cycle_label}"
        for row in await session.execute(
            select(ImprovementCase.id, ImprovementCase.object_name, ImprovementCase.cycle_label).where(
                ImprovementCase.id.in_(case_ids)
            )
        )
    }
    return logic.minutes_markdown(
        title=meeting.title,
        held_on=meeting.held_on,
        org_path=meeting.org_path,
        members_present=meeting.members_present,
        agenda=meeting.agenda,
        resolutions=meeting.resolutions,
        case_names=names,
    )
