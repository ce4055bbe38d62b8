"""The part-2 steps of a plan's life cycle (review, objection period, publication) and the event
publication emits. ``plan.service.transition`` calls ``before_transition`` under the plan's row
lock, so the checks and the changes they allow happen in one transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.appraisal_results import MAX_OBJECTS_INLINE, LeafResult, ObjectResult, SubjectScore
from services.appraisal_svc.cycle.models import Cycle
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan.models import Plan, PlanLeaf
from services.appraisal_svc.publication import logic
from services.appraisal_svc.publication.events import APPRAISAL_RESULTS_PUBLISHED, ResultsPublished
from services.appraisal_svc.publication.models import Objection
from services.appraisal_svc.scoring import service as scoring
from services.appraisal_svc.scoring.models import Result, ResultLeaf, ResultObjectLeaves, ResultSubject, ScoringRun
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
    (the objection period). Returns what the audit entry adds. Publication is not a transition
    a request makes: it is a job (``POST .../publications``), which a big plan needs."""
    if plan.status not in ("collecting", "scoring", "reviewed", "objection"):
        return {}
    if to == "published":
        raise Conflict(
            f"Publication runs as a job: POST /api/v1/plans/{plan.id}/publications with this If-Match, "
            "then follow its Location.",
            errors=[{"field": "to", "message": "publish through POST .../publications"}],
        )
    now = utcnow()
    runs = await run_state(session, plan.id)
    problem = logic.transition_problem(
        current=plan.status,
        to=to,
        now=now,
        verification_deadline=plan.verification_deadline,
        reason=reason,
        runs=runs,
        objection_closes_at=plan.objection_closes_at,
        open_objections=0,
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
    return extra


async def publishable(session: AsyncSession, plan: Plan) -> tuple[str, ScoringRun]:
    """What a publication of ``plan`` would do now: ("publish", the latest run) for a plan whose
    objection period is over with every objection ruled; ("republish", the newer run) for a
    published plan with a newer succeeded version. 409 naming why not."""
    runs = await run_state(session, plan.id)
    if plan.status == "objection":
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
            to="published",
            now=utcnow(),
            verification_deadline=plan.verification_deadline,
            reason=None,
            runs=runs,
            objection_closes_at=plan.objection_closes_at,
            open_objections=open_objections,
        )
        if problem is not None:
            raise Conflict(problem.message, errors=[{"field": problem.field, "message": problem.message}])
        mode = "publish"
    elif plan.status == "published":
        published = (
            await session.scalar(select(ScoringRun.version).where(ScoringRun.id == plan.published_run_id))
            if plan.published_run_id
            else None
        )
        message = logic.republish_problem(
            status=plan.status, published_version=published, latest_version=runs.latest_succeeded_version
        )
        if message is None and runs.active_runs:
            message = "A scoring run is still queued or running; publish when it has finished."
        if message is not None:
            raise Conflict(message, errors=[{"field": "status", "message": message}])
        mode = "republish"
    else:
        message = f"A {plan.status} plan cannot be published; publication follows its objection period."
        raise Conflict(message, errors=[{"field": "status", "message": message}])
    latest = await scoring.latest_run(session, plan.id)
    assert latest is not None  # checked above
    return mode, latest


async def publish(
    session: AsyncSession,
    *,
    plan: Plan,
    owner_path: str,
    run: ScoringRun,
    report: Callable[[float], Awaitable[None]] | None = None,
) -> CloudEvent:
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
        "hash_rules": run.hash_rules or 1,
        "published_at": plan.published_at,
        "object_count": count,
    }
    event: CloudEvent | None = None
    leaf_rows = int(
        await session.scalar(
            select(func.sum(func.cardinality(ResultObjectLeaves.marks))).where(ResultObjectLeaves.run_id == run.id)
        )
        or 0
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
            objects_hash=await objects_hash(session, plan=plan, run_id=run.id, report=report),
        )
        event = make_event(APPRAISAL_RESULTS_PUBLISHED, by_reference, source=SOURCE, subject=str(plan.id))
    await session.flush()
    return await outbox.add(session, TABLES, event)


# The rows of objects_hash, read as plain values on the session's own connection (asyncpg, no
# SQLAlchemy row processing), a page of objects and then their subjects and leaves at a time.
_HASH_OBJECTS = """
SELECT r.object_id, o.kind, o.name, o.org_unit_id, u.org_path, r.peer_group, r.composite, r.grade, r.rank,
       r.peer_count, r.veto_cap IS NOT NULL, r.veto_codes, r.bonus, r.deduction
FROM appraisal.result r
JOIN appraisal.appraisal_object o ON o.id = r.object_id
JOIN appraisal.org_unit u ON u.id = o.org_unit_id
WHERE r.run_id = $1 AND r.object_id > $2
ORDER BY r.object_id
LIMIT $3
"""
_HASH_SUBJECTS = """
SELECT object_id, subject, score, weight
FROM appraisal.result_subject
WHERE run_id = $1 AND object_id BETWEEN $2 AND $3 AND score IS NOT NULL
ORDER BY object_id, subject
"""
_HASH_LEAVES = """
SELECT object_id, indicator_code, subject, value::text, target::text, baseline::text, marks::text, earned::text,
       missing, abs(value) > 1e12 OR abs(target) > 1e12 OR abs(baseline) > 1e12 OR abs(marks) > 1e6 OR abs(earned) > 1e6
FROM appraisal.result_leaf
WHERE run_id = $1 AND object_id BETWEEN $2 AND $3
ORDER BY object_id, indicator_code, subject
"""
_NO_OBJECT = uuid.UUID(int=0)


async def objects_hash(
    session: AsyncSession,
    *,
    plan: Plan,
    run_id: uuid.UUID,
    report: Callable[[float], Awaitable[None]] | None = None,
) -> str:
    """``objects_hash`` page by page, in object id order, so memory stays bounded by one page. The
    lines are written from plain values (``logic.object_json``), byte for byte what
    ``object_line`` writes for the items ``object_results`` pages (a test holds them equal)."""
    definitions = {
        code: logic.leaf_definition(code, name, kind, direction)
        for code, name, kind, direction in (
            await session.execute(
                select(PlanLeaf.indicator_code, PlanLeaf.name, PlanLeaf.kind, PlanLeaf.direction).where(
                    PlanLeaf.plan_id == plan.id
                )
            )
        ).all()
    }
    total = int(await session.scalar(select(func.count()).select_from(Result).where(Result.run_id == run_id)) or 0)
    raw = await (await session.connection()).get_raw_connection()
    driver: Any = raw.driver_connection
    digest = hashlib.sha256()
    after, done = _NO_OBJECT, 0
    while True:
        rows = await driver.fetch(_HASH_OBJECTS, run_id, after, HASH_PAGE)
        if not rows:
            return digest.hexdigest()
        first, last = rows[0][0], rows[-1][0]
        subjects: dict[uuid.UUID, list[tuple[str, Decimal, Decimal]]] = defaultdict(list)
        for object_id, subject, score, weight in await driver.fetch(_HASH_SUBJECTS, run_id, first, last):
            subjects[object_id].append((subject, logic.six_places(score), logic.six_places(weight)))
        leaves: dict[uuid.UUID, list[str]] = defaultdict(list)
        leaf_json = logic.leaf_json
        for object_id, code, subject, value, target, baseline, marks, earned, missing, outside in await driver.fetch(
            _HASH_LEAVES, run_id, first, last
        ):
            if outside:
                raise logic.OutOfContract(f"leaf {code} of object {object_id}: a number is outside the contract")
            leaves[object_id].append(
                leaf_json(
                    definitions[code],
                    subject=subject,
                    value=value,
                    target=target,
                    baseline=baseline,
                    marks=marks,
                    earned=earned,
                    missing=missing,
                )
            )
        for (
            object_id,
            kind,
            name,
            unit_id,
            path,
            group,
            composite,
            grade,
            rank,
            peers,
            vetoed,
            codes,
            bonus,
            ded,
        ) in rows:
            line = logic.object_json(
                object_id=object_id,
                object_kind=kind,
                name=name,
                org_unit_id=unit_id,
                org_path=path,
                peer_group=group,
                composite=composite,
                subject_scores=subjects.get(object_id, []),
                grade=grade,
                rank=rank,
                peer_count=peers,
                vetoed=vetoed,
                veto_codes=list(codes or []),
                bonus=bonus,
                deduction=ded,
                leaves=leaves.get(object_id, []),
            )
            digest.update(line.encode())
        done += len(rows)
        if report is not None and total:
            await report(0.05 + 0.9 * done / total)
        after = last


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
