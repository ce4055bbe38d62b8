"""Cycle use cases."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal_svc.access import OFFICE, READERS, in_subtree, require_role
from services.appraisal_svc.cycle import logic
from services.appraisal_svc.cycle.models import Cycle
from services.appraisal_svc.cycle.schemas import CycleCreate
from shared.auth.principal import Principal, path_within
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.ids import new_id
from shared.pagination import PageParams, paginate


def _visible(principal: Principal, cycle: Cycle) -> bool:
    # A cycle of a unit above you frames your plans too, so ancestors' cycles are readable.
    return principal.in_scope(cycle.org_path) or path_within(principal.org_path, cycle.org_path)


async def get_cycle(session: AsyncSession, *, principal: Principal, cycle_id: uuid.UUID) -> Cycle:
    require_role(principal, READERS, "read cycles")
    cycle = await session.get(Cycle, cycle_id)
    if cycle is None or not _visible(principal, cycle):
        raise NotFound("No such cycle.")
    return cycle


async def create_cycle(session: AsyncSession, *, principal: Principal, data: CycleCreate) -> Cycle:
    require_role(principal, OFFICE, "create cycles")
    if not principal.in_scope(data.org_path):
        raise Forbidden("The cycle's org unit is outside your scope.")
    parent = None
    if data.parent_id is not None:
        parent = await session.get(Cycle, data.parent_id)
        if parent is None or not _visible(principal, parent):
            raise Unprocessable(
                "The parent cycle does not exist.", errors=[{"field": "parent_id", "message": "unknown"}]
            )
    found = logic.problems(
        data.kind,
        data.label,
        data.starts_on,
        data.ends_on,
        (parent.kind, parent.starts_on, parent.ends_on) if parent else None,
    )
    if found:
        raise Unprocessable("The cycle breaks " + str(len(found)) + " rule(s).", errors=found)
    cycle = Cycle(id=new_id(), created_by=principal.subject, **data.model_dump())
    session.add(cycle)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"A {data.kind} cycle {data.label} already exists for {data.org_path}.") from None
    return cycle


async def list_cycles(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageParams,
    kind: str | None = None,
    ids: list[uuid.UUID] | None = None,
) -> tuple[list[Cycle], str | None]:
    require_role(principal, READERS, "read cycles")
    ancestors = ["/"] + [
        "/".join(principal.org_path.split("/")[: i + 1]) for i in range(1, principal.org_path.count("/") + 1)
    ]
    stmt: Select[Any] = select(Cycle).where(
        in_subtree(Cycle.org_path, principal.org_path) | Cycle.org_path.in_(ancestors)
    )
    if kind is not None:
        stmt = stmt.where(Cycle.kind == kind)
    if ids is not None:
        stmt = stmt.where(Cycle.id.in_(ids))
    return await paginate(session, stmt, Cycle.id, page)
