"""Objections, rulings, re-publication and the public reads of published results. They flush;
the caller commits."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from contracts.appraisal_results import ObjectResult
from services.appraisal_svc.access import OFFICE, in_subtree, require_role
from services.appraisal_svc.audit import service as audit
from services.appraisal_svc.collection.models import DataPoint, EvidenceFile
from services.appraisal_svc.cycle.models import Cycle
from services.appraisal_svc.db import JOBS, TABLES
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan import service as plans
from services.appraisal_svc.plan.models import Plan, PlanLeaf, PlanObject
from services.appraisal_svc.publication import lifecycle, logic
from services.appraisal_svc.publication.events import APPRAISAL_RESULTS_PUBLISHED
from services.appraisal_svc.publication.models import Objection
from services.appraisal_svc.publication.schemas import (
    LeagueRow,
    ObjectionCreate,
    ObjectionRead,
    PublicationRead,
    PublicCycle,
    PublicPlanRead,
    PublicResultExplain,
    PublicRuling,
    PublicSubjectScore,
    RulingCreate,
    RulingSummary,
)
from services.appraisal_svc.scoring import service as scoring
from services.appraisal_svc.scoring.models import Result, ResultSubject, ScoringRun
from services.appraisal_svc.target.models import Target
from shared import jobs
from shared.api import check_version
from shared.auth.principal import JOINT_MEETING_ROLES, Principal, Role
from shared.db import utcnow
from shared.errors import AppError, BadRequest, Conflict, NotFound, Unprocessable
from shared.pagination import PageParams, encode_cursor

log = logging.getLogger("govperf.appraisal.publication")

# The appraised department files; the office rules; the office and the joint-meeting units read
# every objection in their scope, a department those of its own objects (its scope is its unit).
OBJECTORS = frozenset({Role.department})
OBJECTION_READERS = OFFICE | JOINT_MEETING_ROLES | OBJECTORS

# --- objections -----------------------------------------------------------------------------------


def _objection_read(objection: Objection, version: int) -> ObjectionRead:
    return ObjectionRead.model_validate(
        {**{c: getattr(objection, c) for c in ObjectionRead.model_fields if hasattr(objection, c)}}
        | {"result_version": version}
    )


async def _version_of(session: AsyncSession, run_id: uuid.UUID) -> int:
    return int(await session.scalar(select(ScoringRun.version).where(ScoringRun.id == run_id)) or 0)


async def file_objection(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, data: ObjectionCreate
) -> ObjectionRead:
    require_role(principal, OBJECTORS, "file objections")
    # The plan row lock orders filing against publication: a filing either lands before the
    # objections are counted, or sees the plan published and is refused.
    plan, _ = await plans.load(session, principal=principal, plan_id=plan_id, for_update=True)
    object_path = await session.scalar(
        select(OrgUnit.org_path)
        .join(AppraisalObject, AppraisalObject.org_unit_id == OrgUnit.id)
        .join(PlanObject, PlanObject.object_id == AppraisalObject.id)
        .where(PlanObject.plan_id == plan.id, PlanObject.object_id == data.object_id)
    )
    if object_path is None or not principal.in_scope(object_path):
        raise NotFound(
            "No such object in this plan among yours.",
            errors=[{"field": "object_id", "message": "not an object of this plan in your scope"}],
        )
    problem = logic.filing_problem(status=plan.status, closes_at=plan.objection_closes_at, now=utcnow())
    if problem is not None:
        raise Conflict(problem)
    run = await scoring.latest_run(session, plan.id)
    if run is None:
        raise Conflict("The plan has no result to object to.")
    if data.indicator_code is not None:
        known = await session.scalar(
            select(func.count())
            .select_from(PlanLeaf)
            .where(PlanLeaf.plan_id == plan.id, PlanLeaf.indicator_code == data.indicator_code)
        )
        if not known:
            raise Unprocessable(
                f"{data.indicator_code!r} is not a leaf indicator of this plan.",
                errors=[{"field": "indicator_code", "message": "not a leaf of the plan"}],
            )
    if data.evidence_sha256:
        stored = dict(
            (
                await session.execute(
                    select(EvidenceFile.sha256, EvidenceFile.uploaded_org_path).where(
                        EvidenceFile.sha256.in_(data.evidence_sha256)
                    )
                )
            ).all()
        )
        # Only files uploaded in the filer's own scope: an objection must not expose another unit's file.
        errors = [
            {"field": f"evidence_sha256.{i}", "message": "unknown evidence file; upload it to /evidence first"}
            for i, sha in enumerate(data.evidence_sha256)
            if sha not in stored or not principal.in_scope(stored[sha])
        ]
        if errors:
            raise Unprocessable(f"{len(errors)} evidence file(s) are not in the store.", errors=errors)
    objection = Objection(
        plan_id=plan.id,
        object_id=data.object_id,
        run_id=run.id,
        indicator_code=data.indicator_code,
        reason=data.reason,
        evidence_sha256=list(dict.fromkeys(data.evidence_sha256)),
        filed_by=principal.subject,
        filed_org_path=principal.org_path,
        status="open",
        lock_version=1,
    )
    session.add(objection)
    await session.flush()
    await audit.record(
        session,
        principal,
        "objection.filed",
        "objection",
        objection.id,
        {"plan_id": str(plan.id), "result_version": run.version, **data.model_dump(mode="json")},
    )
    return _objection_read(objection, run.version)


def _objections_in_sight(principal: Principal, plan_id: uuid.UUID) -> Select[Objection, int]:
    return (
        select(Objection, ScoringRun.version)
        .join(ScoringRun, ScoringRun.id == Objection.run_id)
        .join(AppraisalObject, AppraisalObject.id == Objection.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(Objection.plan_id == plan_id, in_subtree(OrgUnit.org_path, principal.org_path))
    )


async def list_objections(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, page: PageParams, status: str | None
) -> tuple[list[ObjectionRead], str | None]:
    require_role(principal, OBJECTION_READERS, "read objections")
    await plans.load(session, principal=principal, plan_id=plan_id)
    stmt = _objections_in_sight(principal, plan_id)
    if status is not None:
        stmt = stmt.where(Objection.status == status)
    if page.cursor is not None:
        stmt = stmt.where(Objection.id > page.cursor)
    rows = (await session.execute(stmt.order_by(Objection.id).limit(page.limit + 1))).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    items = [_objection_read(o, v) for o, v in rows]
    return items, encode_cursor(rows[-1][0].id) if more and rows else None


async def objections_of_plans(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_ids: list[uuid.UUID],
    page: PageParams,
    status: str | None,
) -> tuple[list[ObjectionRead], str | None]:
    """Objections of several plans at once: plans the caller could open one by one, objects in
    the caller's subtree (as ``list_objections`` shows them), in id order."""
    require_role(principal, OBJECTION_READERS, "read objections")
    owner = aliased(OrgUnit)  # the plan's owner; OrgUnit itself is the object's unit
    stmt = (
        select(Objection, ScoringRun.version)
        .join(ScoringRun, ScoringRun.id == Objection.run_id)
        .join(AppraisalObject, AppraisalObject.id == Objection.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .join(Plan, Plan.id == Objection.plan_id)
        .join(owner, owner.id == Plan.owner_unit_id)
        .where(
            Objection.plan_id.in_(plan_ids),
            in_subtree(OrgUnit.org_path, principal.org_path),
            plans.owner_visible_sql(principal, owner.org_path),
        )
    )
    if status is not None:
        stmt = stmt.where(Objection.status == status)
    if page.cursor is not None:
        stmt = stmt.where(Objection.id > page.cursor)
    rows = (await session.execute(stmt.order_by(Objection.id).limit(page.limit + 1))).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return [_objection_read(o, v) for o, v in rows], encode_cursor(rows[-1][0].id) if more and rows else None


async def get_objection(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, objection_id: uuid.UUID
) -> ObjectionRead:
    require_role(principal, OBJECTION_READERS, "read objections")
    await plans.load(session, principal=principal, plan_id=plan_id)
    row = (await session.execute(_objections_in_sight(principal, plan_id).where(Objection.id == objection_id))).first()
    if row is None:
        raise NotFound("No such objection.")
    return _objection_read(row[0], row[1])


async def _check_correction(
    session: AsyncSession, plan_id: uuid.UUID, objection: Objection, data: RulingCreate
) -> None:
    """The corrected rows must be the objected object's own data points and targets."""
    assert data.correction is not None
    errors: list[dict[str, Any]] = []
    if data.correction.data_point_ids:
        found = set(
            (
                await session.scalars(
                    select(DataPoint.id).where(
                        DataPoint.id.in_(data.correction.data_point_ids), DataPoint.object_id == objection.object_id
                    )
                )
            ).all()
        )
        errors += [
            {"field": f"correction.data_point_ids.{i}", "message": "not a data point of the objected object"}
            for i, point in enumerate(data.correction.data_point_ids)
            if point not in found
        ]
    if data.correction.target_ids:
        found = set(
            (
                await session.scalars(
                    select(Target.id).where(
                        Target.id.in_(data.correction.target_ids),
                        Target.plan_id == plan_id,
                        Target.object_id == objection.object_id,
                    )
                )
            ).all()
        )
        errors += [
            {"field": f"correction.target_ids.{i}", "message": "not a target of the objected object in this plan"}
            for i, target in enumerate(data.correction.target_ids)
            if target not in found
        ]
    if errors:
        raise Unprocessable("The correction names rows that are not the objected object's.", errors=errors)


async def _rescore(session: AsyncSession, plan: Plan, objection: Objection, actor: str) -> ScoringRun:
    """A new result version that includes the correction. A run still queued has not read any
    data yet, so it includes the correction too; a running one may have read the old values."""
    active = await session.scalar(
        select(ScoringRun).where(ScoringRun.plan_id == plan.id, ScoringRun.status.in_(lifecycle.ACTIVE))
    )
    if active is not None and active.status == "queued":
        return active
    if active is not None:
        raise Conflict(
            f"Scoring run {active.version} is running and may have read the data before your correction; "
            "rule again when it has finished."
        )
    return await scoring.enqueue_run(session, plan, reason=f"objection {objection.id} upheld", actor=actor)


async def rule(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_id: uuid.UUID,
    objection_id: uuid.UUID,
    data: RulingCreate,
    expected_version: int | None,
) -> ObjectionRead:
    plan, _ = await plans.load_writable(session, principal=principal, plan_id=plan_id)
    # Row lock: of two concurrent rulings the second waits, then finds the objection ruled.
    objection = await session.scalar(
        select(Objection).where(Objection.id == objection_id, Objection.plan_id == plan.id).with_for_update()
    )
    if objection is None:
        raise NotFound("No such objection.")
    problem = logic.ruling_problem(plan_status=plan.status, objection_status=objection.status)
    if problem is not None:
        raise Conflict(problem)
    check_version(objection.lock_version, expected_version)
    if data.decision == "upheld":
        await _check_correction(session, plan.id, objection, data)
        run = await _rescore(session, plan, objection, principal.subject)
        objection.rescore_run_id = run.id
        objection.correction = data.correction.model_dump(mode="json") if data.correction else None
    objection.status = data.decision
    objection.ruling_reason = data.reason
    objection.ruled_by = principal.subject
    objection.ruled_at = utcnow()
    objection.lock_version += 1
    await session.flush()
    await audit.record(
        session,
        principal,
        "objection.ruled",
        "objection",
        objection.id,
        {"plan_id": str(plan.id), "rescore_run_id": str(objection.rescore_run_id or "")} | data.model_dump(mode="json"),
    )
    return _objection_read(objection, await _version_of(session, objection.run_id))


# --- publication as a job ---------------------------------------------------------------------------

PUBLISH_PLAN = "appraisal.publish"
PUBLICATION_FAILED = "The publication failed and changed nothing; the service log holds the details under its id."


def publication_location(plan_id: uuid.UUID, publication_id: uuid.UUID) -> str:
    return f"/api/v1/plans/{plan_id}/publications/{publication_id}"


def publication_read(job: jobs.Job) -> PublicationRead:
    result = job.result or {}
    return PublicationRead(
        id=job.id,
        plan_id=uuid.UUID(job.subject),
        mode=job.params["mode"],
        status=job.status,
        progress=1.0 if job.status == "succeeded" else float(job.progress),
        run_id=uuid.UUID(job.params["run_id"]),
        result_version=int(job.params["result_version"]),
        event_id=result.get("event_id"),
        by_reference=result.get("by_reference"),
        requested_by=job.created_by,
        requested_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
    )


async def request_publication(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, expected_version: int | None
) -> jobs.Job:
    """POST .../publications: the owner's office queues the plan's publication (objection ->
    published) or the re-publication of a newer version; the job re-checks everything it needs."""
    # The plan's row lock serializes two requests: the second finds the first's job active.
    plan, _ = await plans.load_writable(session, principal=principal, plan_id=plan_id)
    check_version(plan.lock_version, expected_version)
    mode, run = await lifecycle.publishable(session, plan)
    job, created = await jobs.enqueue(
        session,
        JOBS,
        kind=PUBLISH_PLAN,
        subject=str(plan.id),
        params={
            "mode": mode,
            "run_id": str(run.id),
            "result_version": run.version,
            "plan_lock_version": plan.lock_version,
        },
        created_by=principal.subject,
    )
    if not created:
        raise Conflict(
            f"Publication {job.id} of this plan is still {job.status}; follow it at "
            f"{publication_location(plan.id, job.id)}.",
            errors=[{"field": "plan_id", "message": "a publication of this plan is queued or running"}],
        )
    await audit.record(
        session,
        principal,
        "publication.requested",
        "plan",
        plan.id,
        {"publication_id": str(job.id), "mode": mode, "result_version": run.version, "run_id": str(run.id)},
    )
    return job


async def publish_job(
    session: AsyncSession, job: jobs.Job, report: Callable[[float], Awaitable[None]]
) -> dict[str, Any]:
    """The worker's handler: the results event, the plan's new state and its audit entry commit
    with the job's success, or nothing does. A job reclaimed after its worker died starts over
    on a plan its first attempt never changed (that attempt's transaction never committed)."""
    try:
        return await _publish(session, job, report)
    except (AppError, logic.OutOfContract):
        raise
    except Exception:
        log.exception("publication %s of plan %s failed", job.id, job.subject)
        raise PublicationFailed(PUBLICATION_FAILED) from None


class PublicationFailed(RuntimeError):
    """An unexpected failure, shown on the job without its internals."""


async def _publish(session: AsyncSession, job: jobs.Job, report: Callable[[float], Awaitable[None]]) -> dict[str, Any]:
    row = (
        await session.execute(
            select(Plan, OrgUnit.org_path)
            .join(OrgUnit, OrgUnit.id == Plan.owner_unit_id)
            .where(Plan.id == uuid.UUID(job.subject))
            .with_for_update(of=Plan)
        )
    ).first()
    if row is None:
        raise NotFound("The plan no longer exists.")
    plan, owner_path = row
    if plan.status == "published" and str(plan.published_run_id) == job.params["run_id"]:
        # Already done by an attempt that committed (a worker silent past the stale limit was
        # reclaimed while it still finished): succeed without a second event.
        return await _already_published(session, plan)
    if plan.lock_version != job.params["plan_lock_version"]:
        raise Conflict(
            f"The plan changed after its publication was requested (version {job.params['plan_lock_version']} "
            f"-> {plan.lock_version}); request the publication again."
        )
    mode, run = await lifecycle.publishable(session, plan)
    if mode != job.params["mode"] or str(run.id) != job.params["run_id"]:
        raise Conflict(
            f"Result version {run.version} is now the one to publish, not {job.params['result_version']}; "
            "request the publication again."
        )
    previous_status = plan.status
    published_version = await _version_of(session, plan.published_run_id) if plan.published_run_id else None
    await report(0.05)
    event = await lifecycle.publish(session, plan=plan, owner_path=owner_path, run=run, report=report)
    plan.status = "published"
    plan.lock_version += 1
    plan.updated_at = utcnow()
    await session.flush()
    ids = {
        "result_version": run.version,
        "run_id": str(run.id),
        "event_id": str(event.id),
        "publication_id": str(job.id),
    }
    if mode == "publish":
        await audit.record(
            session,
            job.created_by,
            "plan.transitioned",
            "plan",
            plan.id,
            {"from": previous_status, "to": "published"} | ids,
        )
    else:
        await audit.record(
            session, job.created_by, "plan.republished", "plan", plan.id, {"from_version": published_version} | ids
        )
    return {
        "event_id": str(event.id),
        "by_reference": event.data.get("objects_ref") is not None,
        "result_version": run.version,
        "run_id": str(run.id),
    }


async def _already_published(session: AsyncSession, plan: Plan) -> dict[str, Any]:
    outbox = TABLES.outbox
    event_id = await session.scalar(
        select(outbox.c.id)
        .where(outbox.c.aggregate_id == str(plan.id), outbox.c.envelope["type"].astext == APPRAISAL_RESULTS_PUBLISHED)
        .order_by(outbox.c.sequence.desc())
        .limit(1)
    )
    version = await _version_of(session, plan.published_run_id) if plan.published_run_id else None
    return {
        "event_id": str(event_id) if event_id is not None else None,
        "by_reference": None,
        "result_version": version,
        "run_id": str(plan.published_run_id),
    }


async def _publication_plan(session: AsyncSession, principal: Principal, plan_id: uuid.UUID) -> Plan:
    require_role(principal, scoring.RESULT_READERS, "read publications")
    plan, owner_path = await plans.load(session, principal=principal, plan_id=plan_id)
    if not scoring.reads_every_object(principal, owner_path):
        raise NotFound("No such publication.")
    return plan


async def get_publication(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, publication_id: uuid.UUID
) -> PublicationRead:
    plan = await _publication_plan(session, principal, plan_id)
    job = await jobs.get(session, JOBS, publication_id)
    if job is None or job.kind != PUBLISH_PLAN or job.subject != str(plan.id):
        raise NotFound("No such publication.")
    return publication_read(job)


async def list_publications(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, page: PageParams
) -> tuple[list[PublicationRead], str | None]:
    plan = await _publication_plan(session, principal, plan_id)
    stmt = select(JOBS).where(JOBS.c.kind == PUBLISH_PLAN, JOBS.c.subject == str(plan.id))
    if page.cursor is not None:
        stmt = stmt.where(JOBS.c.id > page.cursor)
    rows = (await session.execute(stmt.order_by(JOBS.c.id).limit(page.limit + 1))).all()
    more = len(rows) > page.limit
    items = [publication_read(jobs.Job.of(r)) for r in rows[: page.limit]]
    return items, encode_cursor(items[-1].id) if more and items else None


# --- public reads ---------------------------------------------------------------------------------


class Published:
    """A published plan as the public reads it: the plan, its owner's path, the published run."""

    def __init__(self, plan: Plan, owner_path: str, run: ScoringRun, cycle: Cycle) -> None:
        self.plan, self.owner_path, self.run, self.cycle = plan, owner_path, run, cycle


async def published_plan(session: AsyncSession, plan_id: uuid.UUID) -> Published:
    """404 for a plan that does not exist or is not published: the public sees nothing else."""
    row = (
        await session.execute(
            select(Plan, OrgUnit.org_path, ScoringRun, Cycle)
            .join(OrgUnit, OrgUnit.id == Plan.owner_unit_id)
            .join(ScoringRun, ScoringRun.id == Plan.published_run_id)
            .join(Cycle, Cycle.id == Plan.cycle_id)
            .where(Plan.id == plan_id, Plan.status == "published")
        )
    ).first()
    if row is None:
        raise NotFound("No such published plan.")
    return Published(row[0], row[1], row[2], row[3])


def _summary(plan: Plan, owner_path: str, run: ScoringRun, cycle: Cycle) -> dict[str, Any]:
    assert plan.published_at is not None
    return {
        "id": plan.id,
        "name": plan.name,
        "owner_org_path": owner_path,
        "cycle": PublicCycle(
            id=cycle.id, kind=cycle.kind, label=cycle.label, starts_on=cycle.starts_on, ends_on=cycle.ends_on
        ),
        "result_version": run.version,
        "published_at": plan.published_at,
    }


async def public_plan(session: AsyncSession, published: Published) -> PublicPlanRead:
    plan, run = published.plan, published.run
    counts = logic.ruling_counts(
        (await session.scalars(select(Objection.status).where(Objection.plan_id == plan.id))).all()
    )
    objects = await session.scalar(select(func.count()).select_from(Result).where(Result.run_id == run.id))
    return PublicPlanRead.model_validate(
        _summary(plan, published.owner_path, run, published.cycle)
        | {
            "framework_id": plan.framework_id,
            "framework_hash": plan.framework_hash,
            "grade_scheme": plan.grade_scheme,
            "score_places": plan.score_places,
            "object_count": objects or 0,
            "results_hash": run.results_hash or "",
            "hash_rules": run.hash_rules or 1,
            "rulings": RulingSummary(filed=counts["filed"], upheld=counts["upheld"], dismissed=counts["dismissed"]),
        }
    )


async def league_table(
    session: AsyncSession,
    published: Published,
    *,
    peer_group: str | None,
    page: PageParams | None,
) -> tuple[list[LeagueRow], str | None]:
    """The published results by peer group, best first (competition rank), then object id."""
    stmt = (
        select(Result, AppraisalObject.name, AppraisalObject.kind, OrgUnit.org_path)
        .join(AppraisalObject, AppraisalObject.id == Result.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(Result.run_id == published.run.id)
    )
    if peer_group is not None:
        stmt = stmt.where(Result.peer_group == peer_group)
    if page is not None and page.cursor is not None:
        # The cursor names the last object of the previous page; its place in the table follows.
        last = await session.scalar(
            select(Result).where(Result.run_id == published.run.id, Result.object_id == page.cursor)
        )
        if last is None:
            raise BadRequest(
                "The cursor is not valid.", errors=[{"field": "cursor", "message": "not from this league table"}]
            )
        stmt = stmt.where(
            tuple_(Result.peer_group, Result.rank, Result.object_id)
            > tuple_(last.peer_group, last.rank, last.object_id)
        )
    stmt = stmt.order_by(Result.peer_group, Result.rank, Result.object_id)
    if page is not None:
        stmt = stmt.limit(page.limit + 1)
    rows = (await session.execute(stmt)).all()
    more = page is not None and len(rows) > page.limit
    rows = rows[: page.limit] if page is not None else rows
    scores: dict[uuid.UUID, list[PublicSubjectScore]] = defaultdict(list)
    ids = [r[0].object_id for r in rows]
    for chunk in (ids[i : i + 5000] for i in range(0, len(ids), 5000)):
        for s in (
            await session.scalars(
                select(ResultSubject)
                .where(ResultSubject.run_id == published.run.id, ResultSubject.object_id.in_(chunk))
                .order_by(ResultSubject.subject)
            )
        ).all():
            scores[s.object_id].append(PublicSubjectScore(subject=s.subject, score=s.score))
    items = [
        LeagueRow(
            object_id=result.object_id,
            name=name,
            object_kind=kind,
            org_path=org_path,
            peer_group=result.peer_group,
            rank=result.rank,
            peer_count=result.peer_count,
            composite=result.composite,
            grade=result.grade,
            vetoed=result.veto_cap is not None,
            bonus=result.bonus,
            deduction=result.deduction,
            subject_scores=scores.get(result.object_id, []),
        )
        for result, name, kind, org_path in rows
    ]
    return items, encode_cursor(items[-1].object_id) if more and items else None


async def public_explain(session: AsyncSession, published: Published, object_id: uuid.UUID) -> PublicResultExplain:
    """The explain tree of the published version, as the public reads it."""
    tree = await scoring.explain(session, published.plan, object_id, published.run)
    return PublicResultExplain.model_validate(tree.model_dump())


async def public_rulings(
    session: AsyncSession, published: Published, *, page: PageParams
) -> tuple[list[PublicRuling], str | None]:
    objected, rescore = aliased(ScoringRun), aliased(ScoringRun)
    stmt = (
        select(Objection, AppraisalObject.name, objected.version, rescore.version)
        .join(AppraisalObject, AppraisalObject.id == Objection.object_id)
        .join(objected, objected.id == Objection.run_id)
        .outerjoin(rescore, rescore.id == Objection.rescore_run_id)
        .where(Objection.plan_id == published.plan.id, Objection.status != "open")
    )
    if page.cursor is not None:
        stmt = stmt.where(Objection.id > page.cursor)
    rows = (await session.execute(stmt.order_by(Objection.id).limit(page.limit + 1))).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    items = []
    for objection, name, objected_version, rescore_version in rows:
        assert objection.ruling_reason is not None and objection.ruled_at is not None
        items.append(
            PublicRuling(
                id=objection.id,
                object_id=objection.object_id,
                object_name=name,
                indicator_code=objection.indicator_code,
                objected_version=objected_version,
                filed_at=objection.filed_at,
                decision=objection.status,
                ruling_reason=objection.ruling_reason,
                correction=objection.correction,
                ruled_at=objection.ruled_at,
                rescore_version=rescore_version,
            )
        )
    return items, encode_cursor(rows[-1][0].id) if more and rows else None


async def published_objects(
    session: AsyncSession, published: Published, *, version: int, page: PageParams
) -> tuple[list[ObjectResult], str | None]:
    """The event's objects of a plan published by reference; only the version published now."""
    if version != published.run.version:
        raise NotFound(f"Version {version} is not the published version of this plan.")
    items = await lifecycle.object_results(
        session, plan=published.plan, run_id=published.run.id, after=page.cursor, limit=page.limit + 1
    )
    more = len(items) > page.limit
    items = items[: page.limit]
    return items, encode_cursor(items[-1].object_id) if more and items else None
