"""Case use cases. They take a session and flush; the caller commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback_svc.access import ESCALATORS, OFFICE, check_readable, check_role, in_subtree, readable_filter
from services.feedback_svc.case import logic
from services.feedback_svc.case.events import FEEDBACK_CASE_CLOSED, CaseClosed
from services.feedback_svc.case.logic import CaseAction, CaseStatus
from services.feedback_svc.case.models import (
    CounselingSession,
    ImprovementCase,
    ObjectResult,
    PlanCasePolicy,
    PlanResult,
)
from services.feedback_svc.case.schemas import CasePolicyWrite, SessionCreate
from services.feedback_svc.db import TABLES
from services.feedback_svc.task.models import Task
from shared.api import check_version
from shared.auth.principal import Principal, Role, path_within
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events import make_event
from shared.messaging import outbox
from shared.pagination import PageParams, paginate

SOURCE = "govperf/feedback"


# --- policy ------------------------------------------------------------------------------


async def get_policy(session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID) -> PlanCasePolicy:
    policy = await session.get(PlanCasePolicy, plan_id)
    if policy is None:
        raise NotFound("No case policy for this plan; the defaults apply.")
    check_readable(principal, policy.org_path, "case policy")
    return policy


async def put_policy(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, data: CasePolicyWrite, expected: int | None
) -> PlanCasePolicy:
    check_role(principal, OFFICE, "set what opens improvement cases")
    if not principal.in_scope(data.org_path):
        raise Forbidden("The plan's org unit is outside your scope.")
    plan = await session.get(PlanResult, plan_id)
    if plan is not None and not path_within(plan.owner_org_path, data.org_path):
        raise Unprocessable(
            "The policy must be set by the office that owns the plan.",
            errors=[{"field": "org_path", "message": "does not contain the plan's owner unit"}],
        )
    policy = await session.get(PlanCasePolicy, plan_id, with_for_update=True)
    values = data.model_dump(exclude={"version"})
    if policy is None:
        policy = PlanCasePolicy(plan_id=plan_id, updated_by=principal.subject, lock_version=1, **values)
        session.add(policy)
    else:
        check_readable(principal, policy.org_path, "case policy")
        check_version(policy.lock_version, expected)
        for key, value in values.items():
            setattr(policy, key, value)
        policy.updated_by = principal.subject
        policy.lock_version += 1
    await session.flush()
    return policy


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilters:
    status: CaseStatus | None = None
    plan_id: uuid.UUID | None = None
    cycle_id: uuid.UUID | None = None
    object_id: uuid.UUID | None = None
    org_path: str | None = None
    ids: list[uuid.UUID] | None = None


async def list_cases(
    session: AsyncSession, *, principal: Principal, filters: CaseFilters, page: PageParams
) -> tuple[list[ImprovementCase], str | None]:
    stmt: Select[Any] = select(ImprovementCase).where(readable_filter(principal, ImprovementCase.org_path))
    for column, value in (
        (ImprovementCase.status, filters.status),
        (ImprovementCase.plan_id, filters.plan_id),
        (ImprovementCase.cycle_id, filters.cycle_id),
        (ImprovementCase.object_id, filters.object_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.org_path is not None:
        stmt = stmt.where(in_subtree(ImprovementCase.org_path, filters.org_path))
    if filters.ids is not None:
        stmt = stmt.where(ImprovementCase.id.in_(filters.ids))
    return await paginate(session, stmt, ImprovementCase.id, page)


async def get_case(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID, for_update: bool = False
) -> ImprovementCase:
    stmt = select(ImprovementCase).where(ImprovementCase.id == case_id)
    if for_update:
        stmt = stmt.with_for_update()
    case = await session.scalar(stmt)
    if case is None:
        raise NotFound("No such case.")
    check_readable(principal, case.org_path, "case")
    return case


async def results_of_cases(
    session: AsyncSession, *, principal: Principal, case_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, ObjectResult]]:
    rows = await session.execute(
        select(ImprovementCase.id, ObjectResult)
        .join(
            ObjectResult,
            (ObjectResult.plan_id == ImprovementCase.plan_id) & (ObjectResult.object_id == ImprovementCase.object_id),
        )
        .where(ImprovementCase.id.in_(case_ids), readable_filter(principal, ImprovementCase.org_path))
    )
    return [(row[0], row[1]) for row in rows]


async def public_closed_cases(
    session: AsyncSession, *, plan_id: uuid.UUID | None, page: PageParams
) -> tuple[list[ImprovementCase], str | None]:
    stmt: Select[Any] = select(ImprovementCase).where(ImprovementCase.status == CaseStatus.closed.value)
    if plan_id is not None:
        stmt = stmt.where(ImprovementCase.plan_id == plan_id)
    return await paginate(session, stmt, ImprovementCase.id, page)


# --- state changes -----------------------------------------------------------------------


def move(case: ImprovementCase, action: CaseAction) -> None:
    try:
        case.status = logic.next_status(CaseStatus(case.status), action).value
    except logic.IllegalTransition as exc:
        raise Conflict(str(exc)) from None
    case.lock_version += 1
    case.updated_at = utcnow()


async def task_counts(session: AsyncSession, case_id: uuid.UUID) -> tuple[int, int, int]:
    row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(Task.status == "verified"),
                func.count().filter(Task.ever_overdue.is_(True)),
            ).where(Task.case_id == case_id)
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def transition(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    action: CaseAction,
    reason: str | None,
    expected: int | None,
) -> ImprovementCase:
    case = await get_case(session, principal=principal, case_id=case_id, for_update=True)
    if action in (CaseAction.escalate, CaseAction.resolve_escalation):
        check_role(principal, ESCALATORS, "escalate cases or resolve escalations")
    else:
        check_role(principal, OFFICE, f"{action.value.replace('_', ' ')} a case")
    check_version(case.lock_version, expected)
    total, verified, overdue = await task_counts(session, case.id)
    if action == CaseAction.verify and (total == 0 or verified < total):
        raise Conflict(f"{verified} of {total} tasks are verified; every task must be verified by an outsider first.")
    if action in (CaseAction.escalate, CaseAction.reopen) and not reason:
        raise Unprocessable("Give a reason.", errors=[{"field": "reason", "message": "required for this action"}])
    if action == CaseAction.close and not case.reasons and CaseStatus(case.status) in logic.ACTIVE:
        # A corrected result no longer falls short: the case may close without tasks.
        case.status = CaseStatus.verified.value
    previous = case.status
    move(case, action)
    if action == CaseAction.escalate:
        case.escalated_from, case.escalation_reason, case.escalated_at = previous, reason, utcnow()
    if action == CaseAction.resolve_escalation:
        case.status = logic.status_after_escalation(case.escalated_from).value
    if action == CaseAction.close:
        case.closed_at, case.closed_by = utcnow(), principal.subject
        await emit_closed(session, case, total=total, verified=verified, overdue=overdue)
    if action == CaseAction.reopen:
        case.closed_at = case.closed_by = None
    await session.flush()
    return case


async def emit_closed(session: AsyncSession, case: ImprovementCase, *, total: int, verified: int, overdue: int) -> None:
    assert case.closed_at is not None and case.closed_by is not None
    payload = CaseClosed(
        case_id=case.id,
        plan_id=case.plan_id,
        cycle_id=case.cycle_id,
        cycle_label=case.cycle_label,
        result_version=case.result_version,
        object_id=case.object_id,
        object_kind=case.object_kind,
        org_unit_id=case.org_unit_id,
        org_path=case.org_path,
        reasons=list(case.reasons),
        tasks_total=total,
        tasks_verified=verified,
        tasks_overdue=overdue,
        opened_at=case.created_at,
        closed_at=case.closed_at,
        closed_by=case.closed_by,
    )
    await outbox.add(session, TABLES, make_event(FEEDBACK_CASE_CLOSED, payload, source=SOURCE, subject=str(case.id)))


async def advance_after_task_change(session: AsyncSession, case_id: uuid.UUID) -> None:
    """Work started moves an agreed plan to in progress; the last verification verifies the case."""
    case = await session.scalar(select(ImprovementCase).where(ImprovementCase.id == case_id).with_for_update())
    if case is None:
        return
    status = CaseStatus(case.status)
    total, verified, _ = await task_counts(session, case_id)
    if status == CaseStatus.plan_agreed:
        move(case, CaseAction.start)
        status = CaseStatus.in_progress
    if status in (CaseStatus.in_progress, CaseStatus.escalated) and total and verified == total:
        move(case, CaseAction.verify)
    await session.flush()


# --- counseling --------------------------------------------------------------------------


async def record_session(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID, data: SessionCreate
) -> tuple[CounselingSession, list[Task]]:
    check_role(principal, OFFICE, "record counseling sessions")
    case = await get_case(session, principal=principal, case_id=case_id, for_update=True)
    if case.status == CaseStatus.closed:
        raise Conflict("The case is closed; reopen it first.")
    outside = [i for i, a in enumerate(data.agreed_actions) if not principal.in_scope(a.owner_org_path)]
    if outside:
        raise Unprocessable(
            "Task owners must be units in your scope.",
            errors=[{"field": f"agreed_actions.{i}.owner_org_path", "message": "outside your scope"} for i in outside],
        )
    record = CounselingSession(
        case_id=case.id,
        held_on=data.held_on,
        participants=list(data.participants),
        findings=data.findings,
        agreed_actions=[a.model_dump(mode="json") for a in data.agreed_actions],
        recorded_by=principal.subject,
    )
    session.add(record)
    await session.flush()
    tasks = [
        Task(
            case_id=case.id,
            session_id=record.id,
            title=a.title,
            description=a.description,
            owner_unit_id=a.owner_unit_id,
            owner_org_path=a.owner_org_path,
            scope_org_path=case.org_path,
            deadline=a.deadline,
            status="open",
            percent_done=0,
            ever_overdue=False,
            created_by=principal.subject,
            lock_version=1,
        )
        for a in data.agreed_actions
    ]
    session.add_all(tasks)
    move(case, CaseAction.counsel)
    await session.flush()
    return record, tasks


async def sessions_of(
    session: AsyncSession, *, principal: Principal, case_ids: Sequence[uuid.UUID]
) -> list[CounselingSession]:
    rows = await session.scalars(
        select(CounselingSession)
        .join(ImprovementCase, ImprovementCase.id == CounselingSession.case_id)
        .where(CounselingSession.case_id.in_(case_ids), readable_filter(principal, ImprovementCase.org_path))
        .order_by(CounselingSession.case_id, CounselingSession.held_on, CounselingSession.id)
    )
    return list(rows.all())


async def task_ids_of_sessions(
    session: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in await session.execute(
        select(Task.session_id, Task.id).where(Task.session_id.in_(session_ids)).order_by(Task.id)
    ):
        if row[0] is not None:
            found.setdefault(row[0], []).append(row[1])
    return found


async def acknowledge(
    session: AsyncSession, *, principal: Principal, session_id: uuid.UUID, comment: str | None
) -> CounselingSession:
    """The appraised unit's acknowledgement agrees the rectification plan."""
    record = await session.scalar(select(CounselingSession).where(CounselingSession.id == session_id).with_for_update())
    if record is None:
        raise NotFound("No such counseling session.")
    case = await get_case(session, principal=principal, case_id=record.case_id, for_update=True)
    if not principal.has_any({Role.department, Role.admin}):
        raise Forbidden("Only the appraised unit acknowledges its counseling session.")
    if record.acknowledged_at is not None:
        raise Conflict("This session was already acknowledged.")
    record.acknowledged_at, record.acknowledged_by, record.acknowledgement = utcnow(), principal.subject, comment
    if case.status == CaseStatus.counseled:
        move(case, CaseAction.agree_plan)
    await session.flush()
    return record
