"""Use-of-results use cases and the usage report (set-based). They flush; the caller commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback_svc.access import in_subtree, readable_filter
from services.feedback_svc.case.models import ImprovementCase, ObjectResult, PlanResult
from services.feedback_svc.usage import logic
from services.feedback_svc.usage.models import Decision
from services.feedback_svc.usage.schemas import DecisionCreate
from shared.auth.principal import Principal
from shared.errors import Forbidden, NotFound, Unprocessable
from shared.pagination import PageParams, paginate


async def record_decision(session: AsyncSession, *, principal: Principal, data: DecisionCreate) -> Decision:
    decider = logic.decider_of(data.kind)
    if decider not in principal.roles:
        raise Forbidden(f"A {data.kind.replace('_', ' ')} is recorded by {decider.value}.")
    result = await session.scalar(
        select(ObjectResult).where(ObjectResult.plan_id == data.plan_id, ObjectResult.object_id == data.object_id)
    )
    if result is None or not principal.in_scope(result.org_path):
        raise Unprocessable(
            "A decision must cite a published result in your scope.",
            errors=[{"field": "object_id", "message": "no published result of this object in this plan"}],
        )
    # Versions run 1..N, each was published; a decision may rest on an earlier one it was taken on.
    if data.result_version > result.result_version:
        raise Unprocessable(
            "That result version was never published.",
            errors=[{"field": "result_version", "message": f"the newest published version is {result.result_version}"}],
        )
    if data.case_id is not None:
        case = await session.get(ImprovementCase, data.case_id)
        if case is None or case.plan_id != data.plan_id or case.object_id != data.object_id:
            raise Unprocessable(
                "The case is not about this object's result.",
                errors=[{"field": "case_id", "message": "no case of this object in this plan"}],
            )
    decision = Decision(
        plan_id=data.plan_id,
        result_version=data.result_version,
        cycle_id=result.cycle_id,
        object_id=data.object_id,
        object_kind=result.object_kind,
        object_name=result.name,
        org_path=result.org_path,
        grade=result.grade,
        kind=data.kind,
        summary=data.summary,
        amount=data.amount,
        decided_on=data.decided_on,
        decided_by=principal.subject,
        decided_as=decider.value,
        case_id=data.case_id,
    )
    session.add(decision)
    await session.flush()
    return decision


@dataclass(frozen=True)
class DecisionFilters:
    plan_id: uuid.UUID | None = None
    cycle_id: uuid.UUID | None = None
    object_id: uuid.UUID | None = None
    case_ids: list[uuid.UUID] | None = None
    kind: str | None = None
    ids: list[uuid.UUID] | None = None


async def list_decisions(
    session: AsyncSession, *, principal: Principal, filters: DecisionFilters, page: PageParams
) -> tuple[list[Decision], str | None]:
    stmt: Select[Any] = select(Decision).where(readable_filter(principal, Decision.org_path))
    for column, value in (
        (Decision.plan_id, filters.plan_id),
        (Decision.cycle_id, filters.cycle_id),
        (Decision.object_id, filters.object_id),
        (Decision.kind, filters.kind),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.case_ids is not None:
        stmt = stmt.where(Decision.case_id.in_(filters.case_ids))
    if filters.ids is not None:
        stmt = stmt.where(Decision.id.in_(filters.ids))
    return await paginate(session, stmt, Decision.id, page)


async def usage_report(
    session: AsyncSession, *, cycle_id: uuid.UUID, org_path: str
) -> tuple[list[logic.GradeUsage], logic.GradeUsage, dict[str, int]]:
    """One grouped query over the cycle's published results; no per-object round trips."""
    followed = exists().where(Decision.plan_id == ObjectResult.plan_id, Decision.object_id == ObjectResult.object_id)
    rows = (
        await session.execute(
            select(ObjectResult.grade, func.count(), func.count().filter(followed))
            .where(ObjectResult.cycle_id == cycle_id, in_subtree(ObjectResult.org_path, org_path))
            .group_by(ObjectResult.grade)
        )
    ).all()
    if not rows:
        raise NotFound("No published results of this cycle in this unit.")
    scale_row = await session.scalar(select(PlanResult.grade_scale).where(PlanResult.cycle_id == cycle_id).limit(1))
    by_grade = logic.order_grades(
        [logic.GradeUsage(grade=r[0], published=int(r[1]), followed=int(r[2])) for r in rows], list(scale_row or [])
    )
    kinds = await session.execute(
        select(Decision.kind, func.count())
        .where(Decision.cycle_id == cycle_id, in_subtree(Decision.org_path, org_path))
        .group_by(Decision.kind)
    )
    return by_grade, logic.overall(by_grade), {k: int(n) for k, n in kinds.all()}
