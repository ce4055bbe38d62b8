"""Target use cases: set (singly, in bulk, by cascade), confirm, approve, amend. They flush."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.appraisal_svc.access import CONFIRMERS, OFFICE, READERS, in_subtree, require_role
from services.appraisal_svc.audit import service as audit
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan import logic as plan_logic
from services.appraisal_svc.plan import service as plans
from services.appraisal_svc.plan.models import Plan, PlanLeaf, PlanObject
from services.appraisal_svc.tabular import row_errors
from services.appraisal_svc.target import logic
from services.appraisal_svc.target.models import Target, TargetAmendment
from services.appraisal_svc.target.schemas import TargetAmend, TargetCascade, TargetSet
from shared.api import check_version
from shared.auth.principal import Principal, path_within
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.ids import new_id
from shared.pagination import PageParams, encode_cursor

# Until publication: in the review and objection period an amendment is how a wrong target is
# corrected before the office upholds the objection and the plan is rescored.
AMENDABLE = frozenset({"draft", "targets_open", "collecting", "scoring", "reviewed", "objection"})


@dataclass(frozen=True)
class PlanContext:
    plan: Plan
    owner_path: str
    leaves: dict[str, PlanLeaf]
    object_paths: dict[uuid.UUID, str]


async def _context(session: AsyncSession, plan: Plan, owner_path: str) -> PlanContext:
    leaves = {
        leaf.indicator_code: leaf
        for leaf in (await session.scalars(select(PlanLeaf).where(PlanLeaf.plan_id == plan.id))).all()
    }
    rows = (
        await session.execute(
            select(PlanObject.object_id, OrgUnit.org_path)
            .join(AppraisalObject, AppraisalObject.id == PlanObject.object_id)
            .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
            .where(PlanObject.plan_id == plan.id)
        )
    ).all()
    return PlanContext(plan, owner_path, leaves, {r.object_id: r.org_path for r in rows})


async def _writable_context(session: AsyncSession, principal: Principal, plan_id: uuid.UUID) -> PlanContext:
    plan, owner_path = await plans.load_writable(session, principal=principal, plan_id=plan_id)
    if plan.status not in plan_logic.TARGETS_EDITABLE:
        raise Conflict(f"The plan is {plan.status}; targets are set while it is draft or targets_open. Amend instead.")
    return await _context(session, plan, owner_path)


def _row_problems(ctx: PlanContext, item: TargetSet) -> list[tuple[str, str]]:
    """(field, message) for each broken rule; the message names the object and indicator."""
    where = f"object {item.object_id}, indicator {item.indicator_code}"
    if item.object_id not in ctx.object_paths:
        return [("object_id", f"{where}: the object is not in this plan")]
    leaf = ctx.leaves.get(item.indicator_code)
    if leaf is None:
        return [("indicator_code", f"{where}: no such leaf indicator in the plan's framework")]
    problem = logic.check(leaf.scoring, leaf.direction, item.target, item.baseline)
    return [("target", f"{where}: {problem}")] if problem else []


def _row(ctx: PlanContext, principal: Principal, item: TargetSet) -> dict[str, Any]:
    return {
        "id": new_id(),
        "plan_id": ctx.plan.id,
        "object_id": item.object_id,
        "indicator_code": item.indicator_code,
        "baseline": item.baseline,
        "target": item.target,
        "reason": item.reason,
        "status": "set",
        "set_by": principal.subject,
        "set_at": utcnow(),
        "lock_version": 1,
    }


async def _upsert(
    session: AsyncSession, ctx: PlanContext, principal: Principal, items: Sequence[TargetSet]
) -> list[Target]:
    """Insert or overwrite unapproved targets in one set-based statement per page of rows;
    an approved target is never overwritten here (amendments keep the old value)."""
    keys = {(i.object_id, i.indicator_code) for i in items}
    approved = {
        (r.object_id, r.indicator_code)
        for r in (
            await session.execute(
                select(Target.object_id, Target.indicator_code).where(
                    Target.plan_id == ctx.plan.id, Target.status == "approved"
                )
            )
        ).all()
    } & keys
    if approved:
        _raise_approved(approved)
    stmt = pg_insert(Target)
    stmt = stmt.on_conflict_do_update(
        index_elements=["plan_id", "object_id", "indicator_code"],
        set_={
            "baseline": stmt.excluded.baseline,
            "target": stmt.excluded.target,
            "reason": stmt.excluded.reason,
            "status": "set",
            "set_by": stmt.excluded.set_by,
            "set_at": stmt.excluded.set_at,
            "confirmed_by": None,
            "confirmed_at": None,
            "lock_version": Target.lock_version + 1,
        },
    )
    await session.execute(stmt, [_row(ctx, principal, i) for i in items])
    written = (
        await session.scalars(
            select(Target)
            .where(
                Target.plan_id == ctx.plan.id,
                Target.object_id.in_({i.object_id for i in items}),
                Target.indicator_code.in_({i.indicator_code for i in items}),
            )
            .execution_options(populate_existing=True)
        )
    ).all()
    mine = [t for t in written if (t.object_id, t.indicator_code) in keys]
    await audit.record_many(
        session,
        principal,
        "target.set",
        "target",
        [
            (
                t.id,
                {
                    "plan_id": t.plan_id,
                    "object_id": t.object_id,
                    "indicator_code": t.indicator_code,
                    "target": t.target,
                    "baseline": t.baseline,
                    "reason": t.reason,
                },
            )
            for t in mine
        ],
    )
    return mine


def _raise_approved(approved: set[tuple[uuid.UUID, str]]) -> NoReturn:
    first = sorted(approved, key=str)[:20]
    raise Conflict(
        f"{len(approved)} target(s) are approved already; change them by amendment with a reason.",
        errors=[{"field": "target", "message": f"object {o}, indicator {c}: approved"} for o, c in first],
    )


async def set_target(session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, data: TargetSet) -> Target:
    ctx = await _writable_context(session, principal, plan_id)
    problems = _row_problems(ctx, data)
    if problems:
        raise Unprocessable(problems[0][1], errors=[{"field": f, "message": m} for f, m in problems])
    return (await _upsert(session, ctx, principal, [data]))[0]


async def bulk_set(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, items: list[TargetSet], first_row: int
) -> int:
    """All or nothing: every row is checked before anything is written."""
    ctx = await _writable_context(session, principal, plan_id)
    errors = []
    seen: set[tuple[uuid.UUID, str]] = set()
    for number, item in enumerate(items, start=first_row):
        key = (item.object_id, item.indicator_code)
        if key in seen:
            errors.append({"row": number, "field": "indicator_code", "message": "repeated in the file"})
        seen.add(key)
        errors += [{"row": number, "field": f, "message": m} for f, m in _row_problems(ctx, item)]
    if errors:
        raise row_errors(errors)
    await _upsert(session, ctx, principal, items)
    return len(items)


async def cascade(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, data: TargetCascade
) -> list[Target]:
    ctx = await _writable_context(session, principal, plan_id)
    leaf = ctx.leaves.get(data.indicator_code)
    if leaf is None:
        raise Unprocessable(
            "No such leaf indicator in the plan.", errors=[{"field": "indicator_code", "message": "unknown"}]
        )
    parent = await session.scalar(
        select(Target).where(
            Target.plan_id == plan_id,
            Target.object_id == data.from_object_id,
            Target.indicator_code == data.indicator_code,
        )
    )
    if parent is None:
        raise Unprocessable(
            f"Object {data.from_object_id} has no target for {data.indicator_code} to cascade.",
            errors=[{"field": "from_object_id", "message": "no target"}],
        )
    parent_path = ctx.object_paths[data.from_object_id]
    errors = [
        {"field": f"children.{i}.object_id", "message": "not in the plan below the cascading object"}
        for i, c in enumerate(data.children)
        if c.object_id == data.from_object_id
        or c.object_id not in ctx.object_paths
        or not path_within(ctx.object_paths[c.object_id], parent_path)
    ]
    if errors:
        raise Unprocessable("Targets cascade only to objects of the plan below the cascading one.", errors=errors)
    additive = logic.is_additive(leaf.unit, leaf.method)
    if data.mode == "copy":
        values = [parent.target] * len(data.children)
    else:
        if not additive:
            raise Unprocessable(
                f"{data.indicator_code} ({leaf.unit or leaf.method}) does not add up across units; use mode copy.",
                errors=[{"field": "mode", "message": "not additive"}],
            )
        shares = (
            [c.share or Decimal(0) for c in data.children]
            if data.mode == "share"
            else logic.equal_shares(len(data.children))
        )
        values = logic.split(parent.target, shares)
        # The sum check: what the children must reach is exactly what the parent must.
        if sum(values, Decimal(0)) != parent.target:
            raise Unprocessable(
                "The split does not add up to the parent's target.", errors=[{"field": "children", "message": "sum"}]
            )
    items = [
        TargetSet(
            object_id=c.object_id,
            indicator_code=data.indicator_code,
            target=v,
            baseline=None,
            reason=data.reason or f"cascaded from {data.from_object_id} ({data.mode})",
        )
        for c, v in zip(data.children, values, strict=True)
    ]
    errors = [
        {"field": f"children.{i}.{f}", "message": m}
        for i, item in enumerate(items)
        for f, m in _row_problems(ctx, item)
    ]
    if errors:
        raise Unprocessable("Some cascaded targets cannot be scored.", errors=errors)
    return await _upsert(session, ctx, principal, items)


async def _targets_for_decision(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, ids: list[uuid.UUID]
) -> tuple[Plan, str, list[tuple[Target, str]]]:
    plan, owner_path = await plans.load(session, principal=principal, plan_id=plan_id, for_update=True)
    rows = (
        await session.execute(
            select(Target, OrgUnit.org_path)
            .join(AppraisalObject, AppraisalObject.id == Target.object_id)
            .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
            .where(Target.plan_id == plan_id, Target.id.in_(ids))
            .with_for_update(of=Target)
        )
    ).all()
    found = [(r[0], r.org_path) for r in rows if principal.in_scope(r.org_path) or principal.in_scope(owner_path)]
    if len(found) != len(set(ids)):
        raise NotFound("Some targets do not exist in this plan or are outside your scope.")
    return plan, owner_path, found


async def confirm(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[Target]:
    """The appraised unit's department confirms the targets set for it."""
    require_role(principal, CONFIRMERS, "confirm targets")
    plan, _, found = await _targets_for_decision(session, principal, plan_id, ids)
    if plan.status not in plan_logic.TARGETS_EDITABLE:
        raise Conflict(f"The plan is {plan.status}; targets are confirmed while it is draft or targets_open.")
    errors = [
        {"field": "ids", "message": f"{t.id}: not in your scope"} for t, path in found if not principal.in_scope(path)
    ]
    errors += [{"field": "ids", "message": f"{t.id}: is {t.status}, not set"} for t, _ in found if t.status != "set"]
    if errors:
        raise Conflict("Only set targets of your own units can be confirmed.", errors=errors[:200])
    now = utcnow()
    for target, _ in found:
        target.status, target.confirmed_by, target.confirmed_at = "confirmed", principal.subject, now
        target.lock_version += 1
    await session.flush()
    await audit.record_many(
        session, principal, "target.confirmed", "target", [(t.id, {"target": t.target}) for t, _ in found]
    )
    return [t for t, _ in found]


async def approve(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[Target]:
    require_role(principal, OFFICE, "approve targets")
    plan, owner_path, found = await _targets_for_decision(session, principal, plan_id, ids)
    if not principal.in_scope(owner_path):
        raise Forbidden("Only the plan owner's performance office approves its targets.")
    if plan.status not in plan_logic.TARGETS_EDITABLE:
        raise Conflict(f"The plan is {plan.status}; targets are approved while it is draft or targets_open.")
    errors = [
        {"field": "ids", "message": f"{t.id}: is {t.status}, not confirmed"}
        for t, _ in found
        if t.status != "confirmed"
    ]
    if errors:
        raise Conflict("Only confirmed targets can be approved.", errors=errors[:200])
    now = utcnow()
    for target, _ in found:
        target.status, target.approved_by, target.approved_at = "approved", principal.subject, now
        target.lock_version += 1
    await session.flush()
    await audit.record_many(
        session, principal, "target.approved", "target", [(t.id, {"target": t.target}) for t, _ in found]
    )
    return [t for t, _ in found]


async def amend(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_id: uuid.UUID,
    target_id: uuid.UUID,
    data: TargetAmend,
    expected_version: int | None,
) -> Target:
    """A change after approval: the new value with its reason, the old one kept beside it."""
    plan, owner_path = await plans.load_writable(session, principal=principal, plan_id=plan_id)
    if plan.status not in AMENDABLE:
        raise Conflict(f"The plan is {plan.status}; targets can no longer change.")
    target = await session.scalar(
        select(Target).where(Target.id == target_id, Target.plan_id == plan_id).with_for_update()
    )
    if target is None:
        raise NotFound("No such target in this plan.")
    check_version(target.lock_version, expected_version)
    if target.status != "approved":
        raise Conflict("Only an approved target is amended; set it again instead.")
    ctx = await _context(session, plan, owner_path)
    problems = _row_problems(
        ctx,
        TargetSet(
            object_id=target.object_id, indicator_code=target.indicator_code, target=data.target, baseline=data.baseline
        ),
    )
    if problems:
        raise Unprocessable(problems[0][1], errors=[{"field": f, "message": m} for f, m in problems])
    session.add(
        TargetAmendment(
            id=new_id(),
            target_id=target.id,
            old_baseline=target.baseline,
            old_target=target.target,
            new_baseline=data.baseline,
            new_target=data.target,
            reason=data.reason,
            amended_by=principal.subject,
        )
    )
    old = {"target": target.target, "baseline": target.baseline}
    target.target, target.baseline = data.target, data.baseline
    target.lock_version += 1
    await session.flush()
    await audit.record(
        session, principal, "target.amended", "target", target.id, {"old": old, "new": data.model_dump(mode="json")}
    )
    return target


async def list_targets(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_id: uuid.UUID,
    page: PageParams,
    object_id: uuid.UUID | None = None,
    ids: list[uuid.UUID] | None = None,
) -> tuple[list[Target], str | None]:
    """Targets of the plan's objects that lie in your scope."""
    await plans.load(session, principal=principal, plan_id=plan_id)
    stmt = (
        select(Target)
        .join(AppraisalObject, AppraisalObject.id == Target.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(Target.plan_id == plan_id, in_subtree(OrgUnit.org_path, principal.org_path))
    )
    if object_id is not None:
        stmt = stmt.where(Target.object_id == object_id)
    if ids is not None:
        stmt = stmt.where(Target.id.in_(ids))
    if page.cursor is not None:
        stmt = stmt.where(Target.id > page.cursor)
    found = list((await session.scalars(stmt.order_by(Target.id).limit(page.limit + 1))).all())
    more = len(found) > page.limit
    found = found[: page.limit]
    return found, encode_cursor(found[-1].id) if more and found else None


async def list_targets_of_plans(
    session: AsyncSession, *, principal: Principal, plan_ids: list[uuid.UUID], page: PageParams
) -> tuple[list[Target], str | None]:
    """Targets of several plans at once (the gateway's batch read): only plans the caller could
    open one by one, and of those only the targets ``list_targets`` shows it."""
    require_role(principal, READERS, "read plans")
    owner = aliased(OrgUnit)  # the plan's owner; OrgUnit itself is the object's unit
    stmt = (
        select(Target)
        .join(Plan, Plan.id == Target.plan_id)
        .join(owner, owner.id == Plan.owner_unit_id)
        .join(AppraisalObject, AppraisalObject.id == Target.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(
            Target.plan_id.in_(plan_ids),
            plans.owner_visible_sql(principal, owner.org_path),
            in_subtree(OrgUnit.org_path, principal.org_path),
        )
    )
    if page.cursor is not None:
        stmt = stmt.where(Target.id > page.cursor)
    found = list((await session.scalars(stmt.order_by(Target.id).limit(page.limit + 1))).all())
    more = len(found) > page.limit
    found = found[: page.limit]
    return found, encode_cursor(found[-1].id) if more and found else None


async def amendments_of(
    session: AsyncSession, target_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[TargetAmendment]]:
    out: dict[uuid.UUID, list[TargetAmendment]] = {}
    rows = await session.scalars(
        select(TargetAmendment).where(TargetAmendment.target_id.in_(target_ids)).order_by(TargetAmendment.amended_at)
    )
    for amendment in rows.all():
        out.setdefault(amendment.target_id, []).append(amendment)
    return out
