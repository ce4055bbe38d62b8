"""The part-2 steps of a plan's life cycle (review, objection period, publication) and the event
publication emits. ``plan.service.transition`` calls ``before_transition`` under the plan's row
lock, so the checks and the changes they allow happen in one transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.appraisal_results import MAX_OBJECTS_INLINE, LeafResult, ObjectResult, SubjectScore, object_line
from services.appraisal_svc.cycle.models import Cycle
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan.models import Plan, PlanLeaf
from services.appraisal_svc.publication import logic
from services.appraisal_svc.publication.events import APPRAISAL_RESULTS_PUBLISHED, ResultsPublished
from services.appraisal_svc.publication.models import Objection
from services.appraisal_svc.scoring import service as scoring
from services.appraisal_svc.scoring.models import Result, ResultLeaf, ResultSubject, ScoringRun
from shared.db import utcnow
from shared.errors import Conflict
from shared.events import CloudEvent, make_event
from shared.messaging import outbox

SOURCE = "govperf/appraisal"
ACTIVE = ("queued", "running")
# A leaf result is never shorter than this in the event's JSON (its names and numbers).
MIN_LEAF_BYTES = 150
HASH_PAGE = 500


def objects_ref(plan_id: uuid.UUID, version: int) -> str:
    """Where a consumer pages through the objects of a plan published by reference (public route)."""
    return f"/public/plans/{plan_id}/versions/{version}/objects"


async def run_state(session: AsyncSession, plan_id: uuid.UUID) -> logic.RunState:
    latest = await session.scalar(
        select(func.max(ScoringRun.version)).where(ScoringRun.plan_id == plan_id, ScoringRun.status == "succeeded")
    )
    active = await session.scalar(
        select(func.count()).select_from(ScoringRun).where(ScoringRun.plan_id == plan_id, ScoringRun.status.in_(ACTIVE))
    )
    required = await session.scalar(
        select(func.max(ScoringRun.version))
        .join(Objection, Objection.rescore_run_id == ScoringRun.id)
        .where(Objection.plan_id == plan_id, Objection.status == "upheld")
    )
    return logic.RunState(latest_succeeded_version=latest, active_runs=int(active or 0), required_version=required)


async def before_transition(
    session: AsyncSession, *, plan: Plan, owner_path: str, to: str, reason: str | None, actor: str
) -> dict[str, Any]:
    """Check the part-2 preconditions of ``plan.status -> to`` and make the step's own changes
    (objection period, publication and its event). Returns what the audit entry adds."""
    if plan.status not in ("collecting", "scoring", "reviewed", "objection"):
        return {}
    now = utcnow()
    runs = await run_state(session, plan.id)
    open_objections = 0
    if to == "published":
        open_objections = int(
            await session.scalar(
                select(func.count())
                .select_from(Objection)
                .where(Objection.plan_id == plan.id, Objection.status == "open")
            )
            or 0
        )
    problem = logic.transition_problem(
        current=plan.status,
        to=to,
        now=now,
        verification_deadline=plan.verification_deadline,
        reason=reason,
        runs=runs,
        objection_closes_at=plan.objection_closes_at,
        open_objections=open_objections,
    )
    if problem is not None:
        raise Conflict(problem.message, errors=[{"field": problem.field, "message": problem.message}])
    extra: dict[str, Any] = {"reason": reason} if reason else {}
    if to == "reviewed":
        latest = await scoring.latest_run(session, plan.id)
        assert latest is not None  # checked above
        extra |= {"result_version": latest.version, "run_id": str(latest.id), "results_hash": latest.results_hash}
    elif to == "objection":
        plan.objection_closes_at = logic.objection_closes_at(now, plan.objection_period)
        extra |= {"objection_closes_at": plan.objection_closes_at.isoformat()}
    elif to == "published":
        latest = await scoring.latest_run(session, plan.id)
        assert latest is not None
        event = await publish(session, plan=plan, owner_path=owner_path, run=latest)
        extra |= {"result_version": latest.version, "run_id": str(latest.id), "event_id": str(event.id)}
    return extra


async def publish(session: AsyncSession, *, plan: Plan, owner_path: str, run: ScoringRun) -> CloudEvent:
    """Make ``run`` the plan's published version and queue ``appraisal.results.published``."""
    plan.published_at = utcnow()
    plan.published_run_id = run.id
    cycle = await session.get(Cycle, plan.cycle_id)
    assert cycle is not None
    count = int(await session.scalar(select(func.count()).select_from(Result).where(Result.run_id == run.id)) or 0)
    fields: dict[str, Any] = {
        "plan_id": plan.id,
        "plan_name": plan.name,
        "result_version": run.version,
        "cycle_id": cycle.id,
        "cycle_kind": cycle.kind,
        "cycle_label": cycle.label,
        "cycle_start": cycle.starts_on,
        "cycle_end": cycle.ends_on,
        "owner_org_path": owner_path,
        "framework_id": plan.framework_id,
        "framework_hash": plan.framework_hash,
        "grade_scale": tuple(g["grade"] for g in plan.grade_scheme["grades"]),
        "results_hash": run.results_hash,
        "published_at": plan.published_at,
        "object_count": count,
    }
    event: CloudEvent | None = None
    leaf_rows = int(
        await session.scalar(select(func.count()).select_from(ResultLeaf).where(ResultLeaf.run_id == run.id)) or 0
    )
    # Build the inline event only when it can fit: a leaf takes at least MIN_LEAF_BYTES in JSON.
    if count <= MAX_OBJECTS_INLINE and leaf_rows * MIN_LEAF_BYTES < outbox.max_event_bytes():
        objects = await object_results(session, plan=plan, run_id=run.id)
        inline = make_event(
            APPRAISAL_RESULTS_PUBLISHED,
            ResultsPublished(**fields, objects=objects),
            source=SOURCE,
            subject=str(plan.id),
        )
        # The same margin outbox.add keeps for the sequence it sets.
        if outbox.encoded_size(inline.model_dump(mode="json")) + 64 <= outbox.max_event_bytes():
            event = inline
    if event is None:
        by_reference = ResultsPublished(
            **fields,
            objects_ref=objects_ref(plan.id, run.version),
            objects_hash=await objects_hash(session, plan=plan, run_id=run.id),
        )
        event = make_event(APPRAISAL_RESULTS_PUBLISHED, by_reference, source=SOURCE, subject=str(plan.id))
    await session.flush()
    return await outbox.add(session, TABLES, event)


async def objects_hash(session: AsyncSession, *, plan: Plan, run_id: uuid.UUID) -> str:
    """``objects_hash`` page by page, in object id order, so memory stays bounded by one page."""
    digest = hashlib.sha256()
    after: uuid.UUID | None = None
    while True:
        page = await object_results(session, plan=plan, run_id=run_id, after=after, limit=HASH_PAGE)
        for item in page:
            digest.update(object_line(item))
        if len(page) < HASH_PAGE:
            return digest.hexdigest()
        after = page[-1].object_id


async def object_results(
    session: AsyncSession,
    *,
    plan: Plan,
    run_id: uuid.UUID,
    after: uuid.UUID | None = None,
    limit: int | None = None,
) -> list[ObjectResult]:
    """The run's results as the published contract carries them, in object id order: set-based
    reads of plain columns (no ORM entities: a big plan has a million leaf rows) grouped in memory."""
    stmt = (
        select(
            Result.object_id,
            Result.peer_group,
            Result.composite,
            Result.grade,
            Result.rank,
            Result.peer_count,
            Result.veto_cap,
            Result.veto_codes,
            Result.bonus,
            Result.deduction,
            AppraisalObject.kind,
            AppraisalObject.name,
            AppraisalObject.org_unit_id,
            OrgUnit.org_path,
        )
        .join(AppraisalObject, AppraisalObject.id == Result.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(Result.run_id == run_id)
        .order_by(Result.object_id)
    )
    if after is not None:
        stmt = stmt.where(Result.object_id > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    first, last = rows[0].object_id, rows[-1].object_id
    subjects: dict[uuid.UUID, list[SubjectScore]] = defaultdict(list)
    for object_id, subject, score, weight in (
        await session.execute(
            select(ResultSubject.object_id, ResultSubject.subject, ResultSubject.score, ResultSubject.weight)
            .where(ResultSubject.run_id == run_id, ResultSubject.object_id.between(first, last))
            .order_by(ResultSubject.object_id, ResultSubject.subject)
        )
    ).all():
        if score is not None:
            subjects[object_id].append(
                SubjectScore(subject=subject, score=logic.six_places(score), weight=logic.six_places(weight))
            )
    definitions = {
        code: (name, kind, direction)
        for code, name, kind, direction in (
            await session.execute(
                select(PlanLeaf.indicator_code, PlanLeaf.name, PlanLeaf.kind, PlanLeaf.direction).where(
                    PlanLeaf.plan_id == plan.id
                )
            )
        ).all()
    }
    leaves: dict[uuid.UUID, list[LeafResult]] = defaultdict(list)
    leaf_rows = await session.execute(
        select(
            ResultLeaf.object_id,
            ResultLeaf.indicator_code,
            ResultLeaf.subject,
            ResultLeaf.value,
            ResultLeaf.target,
            ResultLeaf.baseline,
            ResultLeaf.marks,
            ResultLeaf.earned,
            ResultLeaf.missing,
        )
        .where(ResultLeaf.run_id == run_id, ResultLeaf.object_id.between(first, last))
        .order_by(ResultLeaf.object_id, ResultLeaf.indicator_code, ResultLeaf.subject)
    )
    for object_id, code, subject, value, target, baseline, marks, earned, missing in leaf_rows.all():
        name, kind, direction = definitions[code]
        leaves[object_id].append(
            LeafResult(
                indicator_code=code,
                name=name,
                subject=subject or None,
                kind=kind,
                direction=direction,
                value=value,
                target=target,
                baseline=baseline,
                attainment=logic.attainment(kind, earned, marks, missing),
                marks=earned,
                max_marks=marks,
                missing=missing,
            )
        )
    return [
        ObjectResult(
            object_id=r.object_id,
            object_kind=r.kind,
            name=r.name,
            org_unit_id=r.org_unit_id,
            org_path=r.org_path,
            peer_group=r.peer_group,
            composite=r.composite,
            subject_scores=subjects.get(r.object_id, []),
            grade=r.grade,
            rank=r.rank,
            peer_count=r.peer_count,
            vetoed=r.veto_cap is not None,
            veto_codes=list(r.veto_codes or []),
            bonus=r.bonus,
            deduction=r.deduction,
            leaves=leaves.get(r.object_id, []),
        )
        for r in rows
    ]
