"""Plan use cases. They flush; the caller commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.appraisal_svc.access import OFFICE, READERS, in_subtree, require_role
from services.appraisal_svc.audit import service as audit
from services.appraisal_svc.cycle import service as cycles
from services.appraisal_svc.cycle.models import Cycle
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.framework import logic as framework_logic
from services.appraisal_svc.framework.models import FrameworkVersion
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan import logic
from services.appraisal_svc.plan.events import PLAN_OPENED, PlanOpened
from services.appraisal_svc.plan.models import Plan, PlanLeaf, PlanObject
from services.appraisal_svc.plan.schemas import GradeScheme, PlanCreate, PlanObjectIn, PlanRead, PlanUpdate
from services.appraisal_svc.publication import lifecycle
from services.appraisal_svc.target.models import Target
from shared.api import check_version
from shared.auth.principal import Principal, path_within
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events import make_event
from shared.ids import new_id
from shared.messaging import outbox
from shared.pagination import PageParams, encode_cursor

SOURCE = "govperf/appraisal"


def visible(principal: Principal, owner_path: str) -> bool:
    """A plan is seen in its owner's scope and by the units below the owner (whom it appraises)."""
    return principal.in_scope(owner_path) or path_within(principal.org_path, owner_path)


def ancestors(org_path: str) -> list[str]:
    parts = org_path.strip("/").split("/") if org_path != "/" else []
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def visible_sql(principal: Principal) -> Any:
    return owner_visible_sql(principal, OrgUnit.org_path)


def owner_visible_sql(principal: Principal, owner_path: Any) -> Any:
    """``visible`` in SQL, over the column holding the plan owner's org path."""
    return in_subtree(owner_path, principal.org_path) | owner_path.in_(ancestors(principal.org_path))


async def load(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, for_update: bool = False
) -> tuple[Plan, str]:
    """The plan and its owner's org path; 404 when it does not exist or is out of sight."""
    require_role(principal, READERS, "read plans")
    stmt = select(Plan, OrgUnit.org_path).join(OrgUnit, OrgUnit.id == Plan.owner_unit_id).where(Plan.id == plan_id)
    if for_update:
        stmt = stmt.with_for_update(of=Plan)
    row = (await session.execute(stmt)).first()
    if row is None or not visible(principal, row.org_path):
        raise NotFound("No such plan.")
    return row[0], row.org_path


async def load_writable(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, expected_version: int | None = None
) -> tuple[Plan, str]:
    plan, owner_path = await load(session, principal=principal, plan_id=plan_id, for_update=True)
    require_role(principal, OFFICE, "run plans")
    if not principal.in_scope(owner_path):
        raise Forbidden("Only the owner's performance office (or above) runs this plan.")
    if expected_version is not None:
        check_version(plan.lock_version, expected_version)
    return plan, owner_path


async def read_model(session: AsyncSession, plan: Plan, owner_path: str) -> PlanRead:
    count = await session.scalar(select(func.count()).select_from(PlanObject).where(PlanObject.plan_id == plan.id))
    return PlanRead.model_validate(
        {
            **{c: getattr(plan, c) for c in PlanRead.model_fields if hasattr(plan, c)},
            "owner_org_path": owner_path,
            "allowed_transitions": list(logic.allowed(plan.status)),
            "object_count": count or 0,
        }
    )


async def _objects_rows(
    session: AsyncSession, plan_id: uuid.UUID, owner_path: str, objects: list[PlanObjectIn]
) -> list[dict[str, Any]]:
    ids = [o.object_id for o in objects]
    found = {
        r.id: r
        for r in (
            await session.execute(
                select(AppraisalObject.id, AppraisalObject.peer_group, OrgUnit.org_path)
                .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
                .where(AppraisalObject.id.in_(ids))
            )
        ).all()
    }
    errors = [
        {"field": f"objects.{i}.object_id", "message": "unknown object, or not under the plan's owner unit"}
        for i, o in enumerate(objects)
        if o.object_id not in found or not path_within(found[o.object_id].org_path, owner_path)
    ]
    if errors:
        raise Unprocessable(f"{len(errors)} object(s) cannot be in this plan.", errors=errors[:200])
    return [
        {"plan_id": plan_id, "object_id": o.object_id, "peer_group": o.peer_group or found[o.object_id].peer_group}
        for o in objects
    ]


async def create_plan(session: AsyncSession, *, principal: Principal, data: PlanCreate) -> PlanRead:
    require_role(principal, OFFICE, "create plans")
    owner = await session.get(OrgUnit, data.owner_unit_id)
    if owner is None or owner.deleted or not principal.in_scope(owner.org_path):
        raise Unprocessable(
            "The owner unit does not exist in your scope.", errors=[{"field": "owner_unit_id", "message": "unknown"}]
        )
    await cycles.get_cycle(session, principal=principal, cycle_id=data.cycle_id)
    version = await session.get(FrameworkVersion, data.framework_id)
    if version is None:
        raise Conflict(
            f"Framework version {data.framework_id} has not arrived from the indicator service yet "
            "(it must be published there first); retry shortly."
        )
    if data.framework_hash is not None and data.framework_hash != version.content_hash:
        raise Conflict(
            f"Framework version {data.framework_id} has content hash {version.content_hash}, not the one given."
        )
    snapshot = framework_logic.Snapshot.model_validate(version.snapshot)
    leaves = framework_logic.leaves(snapshot)
    uncovered = logic.uncovered_subjects(data.subject_weights, (leaf.evaluation_subjects for leaf in leaves))
    if uncovered:
        raise Unprocessable(
            f"Leaves count for subjects without a weight: {', '.join(uncovered)}.",
            errors=[{"field": "subject_weights", "message": f"missing {s}"} for s in uncovered],
        )
    _check_scoring_settings(_veto_caps(leaves), data.grade_scheme, data.bonus_cap, snapshot.total_points)
    plan = Plan(
        id=new_id(),
        name=data.name,
        cycle_id=data.cycle_id,
        framework_id=version.id,
        framework_hash=version.content_hash,
        owner_unit_id=owner.id,
        status="draft",
        subject_weights={k: str(v) for k, v in data.subject_weights.items()},
        grade_scheme=data.grade_scheme.model_dump(mode="json"),
        missing_rule=data.missing_rule,
        score_places=data.score_places,
        bonus_cap=data.bonus_cap,
        rating_closes_at=data.rating_closes_at,
        objection_seconds=int(data.objection_period.total_seconds()),
        rollup=data.rollup.model_dump(mode="json") if data.rollup else None,
        submission_deadline=data.submission_deadline,
        verification_deadline=data.verification_deadline,
        created_by=principal.subject,
        lock_version=1,
    )
    session.add(plan)
    await session.flush()
    rows = await _objects_rows(session, plan.id, owner.org_path, data.objects)
    if rows:
        await session.execute(insert(PlanObject), rows)
    if leaves:
        await session.execute(
            insert(PlanLeaf),
            [
                {
                    "plan_id": plan.id,
                    "indicator_code": leaf.code,
                    "metric": leaf.metric,
                    "name": leaf.name,
                    "parent_code": leaf.parent_code,
                    "kind": leaf.kind,
                    "direction": leaf.direction,
                    "unit": leaf.unit,
                    "weight": leaf.weight,
                    "method": leaf.method,
                    "scoring": leaf.scoring,
                    "evaluation_subjects": leaf.evaluation_subjects,
                }
                for leaf in leaves
            ],
        )
    await audit.record(session, principal, "plan.created", "plan", plan.id, data.model_dump(mode="json"))
    return await read_model(session, plan, owner.org_path)


def _veto_caps(leaves: Iterable[framework_logic.Leaf]) -> dict[str, str]:
    return {leaf.code: leaf.scoring["cap_grade"] for leaf in leaves if leaf.method == "veto" and leaf.scoring}


def _check_scoring_settings(
    veto_caps: dict[str, str], scheme: GradeScheme, bonus_cap: Decimal | None, total_points: Decimal
) -> None:
    problems = logic.scoring_setting_problems(veto_caps, (g.grade for g in scheme.grades), bonus_cap, total_points)
    if problems:
        raise Unprocessable(problems[0][1] + ".", errors=[{"field": f, "message": m} for f, m in problems])


async def update_plan(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, data: PlanUpdate, expected_version: int | None
) -> PlanRead:
    plan, owner_path = await load_writable(session, principal=principal, plan_id=plan_id)
    check_version(plan.lock_version, expected_version)
    if plan.status not in logic.EDITABLE:
        raise Conflict(f"The plan is {plan.status}; only a draft plan can be edited.")
    changes = data.model_dump(mode="json", exclude_unset=True)
    for field in (
        "name",
        "missing_rule",
        "score_places",
        "bonus_cap",
        "rating_closes_at",
        "submission_deadline",
        "verification_deadline",
    ):
        if getattr(data, field) is not None:
            setattr(plan, field, getattr(data, field))
    if data.subject_weights is not None:
        plan.subject_weights = {k: str(v) for k, v in data.subject_weights.items()}
    if data.grade_scheme is not None:
        plan.grade_scheme = data.grade_scheme.model_dump(mode="json")
    if data.grade_scheme is not None or data.bonus_cap is not None:
        version = await session.get(FrameworkVersion, plan.framework_id)
        assert version is not None  # a plan's framework version is never deleted (foreign key)
        snapshot = framework_logic.Snapshot.model_validate(version.snapshot)
        _check_scoring_settings(
            _veto_caps(framework_logic.leaves(snapshot)),
            GradeScheme.model_validate(plan.grade_scheme),
            plan.bonus_cap,
            snapshot.total_points,
        )
    if data.objection_period is not None:
        plan.objection_seconds = int(data.objection_period.total_seconds())
    if data.rollup is not None:
        plan.rollup = data.rollup.model_dump(mode="json")
    if plan.verification_deadline < plan.submission_deadline:
        raise Unprocessable(
            "verification_deadline must not be before submission_deadline.",
            errors=[{"field": "verification_deadline", "message": "before submission_deadline"}],
        )
    if data.objects is not None:
        rows = await _objects_rows(session, plan.id, owner_path, data.objects)
        await session.execute(delete(PlanObject).where(PlanObject.plan_id == plan.id))
        if rows:
            await session.execute(insert(PlanObject), rows)
    plan.lock_version += 1
    plan.updated_at = utcnow()
    await session.flush()
    await audit.record(session, principal, "plan.updated", "plan", plan.id, changes)
    return await read_model(session, plan, owner_path)


async def _missing_targets(session: AsyncSession, plan_id: uuid.UUID) -> tuple[int, int]:
    """(targets required but absent, targets present but not approved)."""
    required = (
        select(func.count())
        .select_from(PlanObject)
        .join(PlanLeaf, PlanLeaf.plan_id == PlanObject.plan_id)
        .outerjoin(
            Target,
            (Target.plan_id == PlanObject.plan_id)
            & (Target.object_id == PlanObject.object_id)
            & (Target.indicator_code == PlanLeaf.indicator_code),
        )
        .where(PlanObject.plan_id == plan_id, PlanLeaf.method.in_(logic.TARGETED_METHODS), Target.id.is_(None))
    )
    unapproved = select(func.count()).select_from(Target).where(Target.plan_id == plan_id, Target.status != "approved")
    return int(await session.scalar(required) or 0), int(await session.scalar(unapproved) or 0)


async def transition(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_id: uuid.UUID,
    to: str,
    expected_version: int | None,
    reason: str | None = None,
) -> PlanRead:
    plan, owner_path = await load_writable(session, principal=principal, plan_id=plan_id)
    # A state change is an update: no blind moves (428 without If-Match, 412 when stale).
    check_version(plan.lock_version, expected_version)
    allowed = logic.allowed(plan.status)
    if to not in allowed:
        raise Conflict(
            f"A {plan.status} plan cannot go to {to!r}; allowed: {', '.join(allowed) or 'none (yet)'}.",
            errors=[{"field": "to", "message": f"allowed: {list(allowed)}"}],
        )
    object_ids = list((await session.scalars(select(PlanObject.object_id).where(PlanObject.plan_id == plan.id))).all())
    if to == "targets_open" and not object_ids:
        raise Conflict("The plan appraises no objects yet; add them before opening targets.")
    if to == "collecting":
        missing, unapproved = await _missing_targets(session, plan.id)
        if missing or unapproved:
            raise Conflict(
                f"Targets are not ready: {missing} missing, {unapproved} not yet approved.",
                errors=[{"field": "targets", "message": f"{missing} missing, {unapproved} unapproved"}],
            )
    step = await lifecycle.before_transition(
        session, plan=plan, owner_path=owner_path, to=to, reason=reason, actor=principal.subject
    )
    previous = plan.status
    plan.status = to
    plan.lock_version += 1
    plan.updated_at = utcnow()
    if to == "collecting":
        plan.opened_at = utcnow()
        cycle = await session.get(Cycle, plan.cycle_id)
        assert cycle is not None
        event = PlanOpened(
            plan_id=plan.id,
            name=plan.name,
            cycle_id=cycle.id,
            cycle_kind=cycle.kind,
            cycle_label=cycle.label,
            framework_id=plan.framework_id,
            framework_hash=plan.framework_hash,
            owner_unit_id=plan.owner_unit_id,
            owner_org_path=owner_path,
            object_ids=object_ids,
            submission_deadline=plan.submission_deadline,
            verification_deadline=plan.verification_deadline,
            opened_at=plan.opened_at,
        )
        await outbox.add(session, TABLES, make_event(PLAN_OPENED, event, source=SOURCE, subject=str(plan.id)))
    await session.flush()
    await audit.record(session, principal, "plan.transitioned", "plan", plan.id, {"from": previous, "to": to, **step})
    return await read_model(session, plan, owner_path)


async def list_plans(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageParams,
    status: str | None = None,
    ids: list[uuid.UUID] | None = None,
) -> tuple[list[PlanRead], str | None]:
    require_role(principal, READERS, "read plans")
    stmt: Select[Plan, str] = (
        select(Plan, OrgUnit.org_path).join(OrgUnit, OrgUnit.id == Plan.owner_unit_id).where(visible_sql(principal))
    )
    if status is not None:
        stmt = stmt.where(Plan.status == status)
    if ids is not None:
        stmt = stmt.where(Plan.id.in_(ids))
    if page.cursor is not None:
        stmt = stmt.where(Plan.id > page.cursor)
    rows = (await session.execute(stmt.order_by(Plan.id).limit(page.limit + 1))).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    counts = dict(
        (
            await session.execute(
                select(PlanObject.plan_id, func.count())
                .where(PlanObject.plan_id.in_([r[0].id for r in rows]))
                .group_by(PlanObject.plan_id)
            )
        ).all()
    )
    items = [
        PlanRead.model_validate(
            {
                **{c: getattr(r[0], c) for c in PlanRead.model_fields if hasattr(r[0], c)},
                "owner_org_path": r.org_path,
                "allowed_transitions": list(logic.allowed(r[0].status)),
                "object_count": counts.get(r[0].id, 0),
            }
        )
        for r in rows
    ]
    return items, encode_cursor(rows[-1][0].id) if more and rows else None


async def list_plan_objects(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """The plan's objects that lie in the caller's scope (a county sees itself, the city all)."""
    await load(session, principal=principal, plan_id=plan_id)
    stmt = (
        select(
            PlanObject.object_id, PlanObject.peer_group, AppraisalObject.kind, AppraisalObject.name, OrgUnit.org_path
        )
        .join(AppraisalObject, AppraisalObject.id == PlanObject.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(PlanObject.plan_id == plan_id, in_subtree(OrgUnit.org_path, principal.org_path))
    )
    if page.cursor is not None:
        stmt = stmt.where(PlanObject.object_id > page.cursor)
    rows = (await session.execute(stmt.order_by(PlanObject.object_id).limit(page.limit + 1))).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return [r._asdict() for r in rows], encode_cursor(rows[-1].object_id) if more and rows else None


async def list_leaves(session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID) -> list[PlanLeaf]:
    await load(session, principal=principal, plan_id=plan_id)
    return list(
        (
            await session.scalars(select(PlanLeaf).where(PlanLeaf.plan_id == plan_id).order_by(PlanLeaf.indicator_code))
        ).all()
    )


async def list_objects_of_plans(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_ids: list[uuid.UUID],
    limit: int,
    after: tuple[uuid.UUID, uuid.UUID] | None,
) -> tuple[list[dict[str, Any]], tuple[uuid.UUID, uuid.UUID] | None]:
    """The objects of several plans at once (the gateway's batch read): only plans the caller
    could open one by one, and of those only the objects in the caller's subtree, as
    ``list_plan_objects`` shows them. Keyset over (plan, object); returns the next key."""
    require_role(principal, READERS, "read plans")
    owner = aliased(OrgUnit)  # the plan's owner; OrgUnit itself is the object's unit
    stmt = (
        select(
            PlanObject.plan_id,
            PlanObject.object_id,
            PlanObject.peer_group,
            AppraisalObject.kind,
            AppraisalObject.name,
            OrgUnit.org_path,
        )
        .join(Plan, Plan.id == PlanObject.plan_id)
        .join(owner, owner.id == Plan.owner_unit_id)
        .join(AppraisalObject, AppraisalObject.id == PlanObject.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(
            PlanObject.plan_id.in_(plan_ids),
            owner_visible_sql(principal, owner.org_path),
            in_subtree(OrgUnit.org_path, principal.org_path),
        )
    )
    if after is not None:
        stmt = stmt.where(tuple_(PlanObject.plan_id, PlanObject.object_id) > tuple_(*after))
    rows = (await session.execute(stmt.order_by(PlanObject.plan_id, PlanObject.object_id).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [r._asdict() for r in rows], (rows[-1].plan_id, rows[-1].object_id) if more and rows else None
