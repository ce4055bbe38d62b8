"""Scoring use cases: runs as job resources, league tables and explain trees. They flush; the
caller (a route, or the job worker) commits.

Interface other packages call: ``enqueue_run``, ``latest_run``, ``explain``."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.appraisal_svc.access import require_role
from services.appraisal_svc.audit import service as audit
from services.appraisal_svc.db import JOBS
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan import logic as plan_logic
from services.appraisal_svc.plan import service as plans
from services.appraisal_svc.plan.models import Plan, PlanLeaf
from services.appraisal_svc.scoring import engine
from services.appraisal_svc.scoring.models import Result, ResultLeaf, ResultObjectLeaves, ResultSubject, ScoringRun
from services.appraisal_svc.scoring.schemas import (
    ExplainLeaf,
    ExplainSubject,
    GradeRule,
    GradeThresholdRead,
    ResultExplain,
    ScoringRunRead,
)
from shared import jobs
from shared.auth.principal import Principal, Role
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound
from shared.ids import new_id
from shared.pagination import PageParams, encode_cursor

log = logging.getLogger("govperf.appraisal.scoring")

SCORE_PLAN = "appraisal.score"
# Results before publication are internal: the performance office and the joint-meeting units in
# the plan's scope read every object; a department reads its own objects' results only.
RESULT_READERS = frozenset({Role.admin, Role.perf_office, Role.finance, Role.audit, Role.supervision, Role.legal})
RUN_REQUESTERS = frozenset({Role.admin, Role.perf_office})
TIE_RULE = (
    "At most floor(quota x objects) objects keep the best grade, by composite, best first; objects tied "
    "at the boundary all move to the next grade, so the quota is never exceeded."
)
FAILED = "The scoring run failed and wrote no results; the service log holds the details under the run id."
ABANDONED = "The scoring run was abandoned after its worker stopped repeatedly; it wrote no results."


async def enqueue_run(session: AsyncSession, plan: Plan, *, reason: str, actor: str) -> ScoringRun:
    """A new queued run (the next result version) and its job. 409 while a run of the plan is
    queued or running, when the plan is not in a scorable state, or while ratings are sealed."""
    # Serializes concurrent requests for one plan: the second sees the first's run.
    await session.execute(select(Plan.id).where(Plan.id == plan.id).with_for_update())
    if plan.status not in plan_logic.SCORABLE:
        raise Conflict(
            f"A {plan.status} plan cannot be scored; scoring runs need one of {sorted(plan_logic.SCORABLE)}."
        )
    if plan.rating_closes_at is not None and plan.rating_closes_at > utcnow():
        raise Conflict(
            f"Expert ratings are sealed until {plan.rating_closes_at.isoformat()}; "
            "score the plan after the rating window closes."
        )
    await _fail_abandoned(session, plan.id)
    active = await session.scalar(
        select(ScoringRun.version).where(ScoringRun.plan_id == plan.id, ScoringRun.status.in_(jobs.ACTIVE))
    )
    if active is not None:
        raise Conflict(f"Scoring run version {active} of this plan is still queued or running.")
    last_version = await session.scalar(select(func.max(ScoringRun.version)).where(ScoringRun.plan_id == plan.id))
    version = (last_version or 0) + 1
    run = ScoringRun(id=new_id(), plan_id=plan.id, version=version, status="queued", reason=reason, requested_by=actor)
    session.add(run)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("Another scoring run of this plan was requested at the same moment.") from None
    job, created = await jobs.enqueue(
        session, JOBS, kind=SCORE_PLAN, subject=str(plan.id), params={"run_id": str(run.id)}, created_by=actor
    )
    if not created:
        raise Conflict("A scoring job of this plan is still queued or running.")
    run.job_id = job.id
    await session.flush()
    await audit.record(
        session, actor, "scoring_run.requested", "plan", plan.id, {"run_id": str(run.id), "version": version}
    )
    return run


async def _fail_abandoned(session: AsyncSession, plan_id: uuid.UUID) -> None:
    """A run whose job the worker gave up on (repeated crashes) no longer blocks the plan, and the
    leaf and subject rows its parts committed before a crash go with it."""
    abandoned = (
        await session.scalars(
            update(ScoringRun)
            .where(
                ScoringRun.plan_id == plan_id,
                ScoringRun.status.in_(jobs.ACTIVE),
                ScoringRun.job_id.in_(select(JOBS.c.id).where(JOBS.c.status == "failed")),
            )
            .values(status="failed", error=ABANDONED, finished_at=utcnow())
            .returning(ScoringRun.id)
        )
    ).all()
    if abandoned:
        for table in (ResultObjectLeaves, ResultSubject):
            await session.execute(delete(table).where(table.run_id.in_(abandoned)))


async def latest_run(session: AsyncSession, plan_id: uuid.UUID) -> ScoringRun | None:
    """The plan's latest succeeded run (the current result version), or None."""
    return await session.scalar(
        select(ScoringRun)
        .where(ScoringRun.plan_id == plan_id, ScoringRun.status == "succeeded")
        .order_by(ScoringRun.version.desc())
        .limit(1)
    )


# --- the job ----------------------------------------------------------------------------------


async def score_job(session: AsyncSession, job: jobs.Job, report: Callable[[float], Awaitable[None]]) -> dict[str, Any]:
    """The worker's handler: the run's results and its status commit together with the job. The
    worker's session owns its transaction, so the leaf pass may run in parts on its engine."""
    bind = session.bind
    parts_engine = bind if isinstance(bind, AsyncEngine) else None
    run = await run_scoring(session, run_id=uuid.UUID(job.params["run_id"]), report=report, parts_engine=parts_engine)
    return {"run_id": str(run.id), "version": run.version, "status": run.status}


async def run_scoring(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    report: Callable[[float], Awaitable[None]],
    parts_engine: AsyncEngine | None = None,
) -> ScoringRun:
    """Score the run's plan. A failure is recorded on the run (no internals) and leaves no results:
    leaf and subject rows that parts of the run committed are deleted with the failure."""
    run = await session.scalar(select(ScoringRun).where(ScoringRun.id == run_id).with_for_update())
    if run is None:
        raise NotFound("No such scoring run.")
    if run.status not in jobs.ACTIVE:  # already finished: a reclaimed job never scores twice
        return run
    run.started_at = utcnow()
    try:
        parts = await engine.parts_of(session, parts_engine) if parts_engine is not None else None
        async with session.begin_nested():
            inputs = await engine.plan_inputs(session, run.plan_id)
            figures = await engine.score(session, plan=inputs, run_id=run.id, report=report, parts=parts)
    except Exception:
        log.exception("scoring run %s of plan %s failed", run.id, run.plan_id)
        for table in (ResultObjectLeaves, ResultSubject):
            await session.execute(delete(table).where(table.run_id == run.id))
        run.status, run.error, run.finished_at = "failed", FAILED, utcnow()
        await session.flush()
        return run
    run.status, run.finished_at = "succeeded", utcnow()
    run.object_count, run.value_count = figures.object_count, figures.value_count
    run.inputs_hash, run.results_hash, run.timings = figures.inputs_hash, figures.results_hash, figures.timings
    run.hash_rules = figures.hash_rules
    await session.flush()
    await audit.record(
        session,
        run.requested_by,
        "scoring_run.succeeded",
        "plan",
        run.plan_id,
        {"run_id": str(run.id), "version": run.version, "results_hash": run.results_hash},
    )
    return run


# --- reads ------------------------------------------------------------------------------------


async def load_plan_for_results(session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID) -> tuple[Plan, str]:
    """The plan, if the caller may read some of its results: readers in the plan's scope, or a
    department under the plan's owner (which then sees its own objects only)."""
    plan, owner_path = await plans.load(session, principal=principal, plan_id=plan_id)
    if principal.has_any(RESULT_READERS) and principal.in_scope(owner_path):
        return plan, owner_path
    if principal.has_any(frozenset({Role.department})):
        return plan, owner_path
    raise Forbidden("Results before publication are for the performance office and the joint-meeting units.")


def reads_every_object(principal: Principal, owner_path: str) -> bool:
    return principal.has_any(RESULT_READERS) and principal.in_scope(owner_path)


async def run_read(session: AsyncSession, run: ScoringRun) -> ScoringRunRead:
    """The run as the API shows it: while its job runs, the job's status and progress (only an
    active run, at most one per plan, costs a read of its job)."""
    active = run.status in jobs.ACTIVE and run.job_id is not None
    job = await jobs.get(session, JOBS, run.job_id) if active and run.job_id is not None else None
    status, progress, error = run.status, 1.0 if run.status in ("succeeded", "failed") else 0.0, run.error
    if run.status in jobs.ACTIVE and job is not None:
        progress = float(job.progress)
        if job.status == "running":
            status = "running"
        elif job.status == "failed":
            status, error = "failed", ABANDONED
    return ScoringRunRead.model_validate(
        {
            **{c: getattr(run, c) for c in ScoringRunRead.model_fields if hasattr(run, c)},
            "status": status,
            "progress": progress,
            "error": error,
        }
    )


async def request_run(session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, reason: str) -> ScoringRun:
    """POST .../scoring-runs: the performance office of the plan's scope."""
    require_role(principal, RUN_REQUESTERS, "score plans")
    plan, _ = await plans.load_writable(session, principal=principal, plan_id=plan_id)
    return await enqueue_run(session, plan, reason=reason, actor=principal.subject)


async def get_run(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, run_id: uuid.UUID
) -> ScoringRunRead:
    require_role(principal, RESULT_READERS, "read scoring runs")
    plan, owner_path = await plans.load(session, principal=principal, plan_id=plan_id)
    if not reads_every_object(principal, owner_path):
        raise NotFound("No such scoring run.")
    run = await session.scalar(select(ScoringRun).where(ScoringRun.id == run_id, ScoringRun.plan_id == plan.id))
    if run is None:
        raise NotFound("No such scoring run.")
    return await run_read(session, run)


async def list_runs(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, page: PageParams
) -> tuple[list[ScoringRunRead], str | None]:
    require_role(principal, RESULT_READERS, "read scoring runs")
    plan, owner_path = await plans.load(session, principal=principal, plan_id=plan_id)
    if not reads_every_object(principal, owner_path):
        raise Forbidden("Scoring runs are for the performance office and the joint-meeting units of the plan.")
    stmt = select(ScoringRun).where(ScoringRun.plan_id == plan.id)
    if page.cursor is not None:
        stmt = stmt.where(ScoringRun.id > page.cursor)
    rows = list((await session.scalars(stmt.order_by(ScoringRun.id).limit(page.limit + 1))).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return [await run_read(session, r) for r in rows], encode_cursor(rows[-1].id) if more and rows else None


async def run_of_version(session: AsyncSession, plan_id: uuid.UUID, version: int | None) -> ScoringRun:
    """The succeeded run of that result version, or the latest one."""
    if version is None:
        run = await latest_run(session, plan_id)
        if run is None:
            raise NotFound("The plan has no results yet.")
        return run
    run = await session.scalar(
        select(ScoringRun).where(
            ScoringRun.plan_id == plan_id, ScoringRun.version == version, ScoringRun.status == "succeeded"
        )
    )
    if run is None:
        raise NotFound(f"The plan has no result version {version}.")
    return run


async def explain_for(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, object_id: uuid.UUID, version: int | None
) -> ResultExplain:
    """GET .../results/{object_id}: a department only for its own objects (others: 404)."""
    plan, owner_path = await load_plan_for_results(session, principal=principal, plan_id=plan_id)
    if not reads_every_object(principal, owner_path):
        object_path = await session.scalar(
            select(OrgUnit.org_path)
            .join(AppraisalObject, AppraisalObject.org_unit_id == OrgUnit.id)
            .where(AppraisalObject.id == object_id)
        )
        if object_path is None or not principal.in_scope(object_path):
            raise NotFound("No result of this object.")
    run = await run_of_version(session, plan.id, version)
    return await explain(session, plan, object_id, run)


async def explain(session: AsyncSession, plan: Plan, object_id: uuid.UUID, run: ScoringRun) -> ResultExplain:
    """The explain tree of one object in one run (no authorization: callers check it)."""
    found = (
        await session.execute(
            select(Result, AppraisalObject.name)
            .join(AppraisalObject, AppraisalObject.id == Result.object_id)
            .where(Result.run_id == run.id, Result.object_id == object_id)
        )
    ).first()
    if found is None:
        raise NotFound("No result of this object.")
    result, object_name = found
    inputs = await engine.plan_inputs(session, plan.id)
    leaves = {
        leaf.indicator_code: leaf for leaf in await session.scalars(select(PlanLeaf).where(PlanLeaf.plan_id == plan.id))
    }
    subjects = list(
        await session.scalars(
            select(ResultSubject)
            .where(ResultSubject.run_id == run.id, ResultSubject.object_id == object_id)
            .order_by(ResultSubject.subject)
        )
    )
    leaf_rows = list(
        await session.scalars(
            select(ResultLeaf)
            .where(ResultLeaf.run_id == run.id, ResultLeaf.object_id == object_id)
            .order_by(ResultLeaf.indicator_code, ResultLeaf.subject)
        )
    )
    object_count = await session.scalar(select(func.count()).select_from(Result).where(Result.run_id == run.id)) or 0

    def leaf_model(row: ResultLeaf) -> ExplainLeaf:
        leaf = leaves[row.indicator_code]
        return ExplainLeaf(
            indicator_code=row.indicator_code,
            name=leaf.name,
            parent_code=leaf.parent_code,
            subject=row.subject,
            method=leaf.method,
            direction=leaf.direction,
            parameters=leaf.scoring,
            weight=leaf.weight,
            value=row.value,
            data_point_id=row.data_point_id,
            target=row.target,
            baseline=row.baseline,
            share=row.share,
            marks=row.marks,
            earned=row.earned,
            missing=row.missing,
        )

    by_method: dict[str, list[ExplainLeaf]] = {"bonus": [], "deduction": [], "veto": []}
    by_subject: dict[str, list[ExplainLeaf]] = {}
    for row in leaf_rows:
        method = leaves[row.indicator_code].method or ""
        target_list = by_method.get(method)
        if target_list is None:
            target_list = by_subject.setdefault(row.subject, [])
        target_list.append(leaf_model(row))
    quota = inputs.top_grade_quota
    return ResultExplain(
        plan_id=plan.id,
        run_id=run.id,
        version=run.version,
        object_id=object_id,
        object_name=object_name,
        peer_group=result.peer_group,
        period=inputs.period,
        score_places=inputs.score_places,
        missing_rule=inputs.missing_rule,
        total_points=inputs.total_points,
        subjects=[
            ExplainSubject(
                subject=s.subject,
                declared_weight=inputs.subject_weights.get(s.subject, Decimal(0)),
                weight=s.weight,
                earned=s.earned,
                marks=s.marks,
                score=s.score,
                contribution=s.contribution,
                leaves=by_subject.get(s.subject, []),
            )
            for s in subjects
        ],
        base=result.base,
        bonus_leaves=by_method["bonus"],
        bonus_cap=inputs.bonus_cap,
        bonus=result.bonus,
        deduction_leaves=by_method["deduction"],
        deduction=result.deduction,
        composite=result.composite,
        veto_leaves=by_method["veto"],
        grade=GradeRule(
            thresholds=[GradeThresholdRead(grade=g, min_score=m) for g, m in inputs.grades],
            grade_by_score=result.grade_by_score,
            veto_codes=list(result.veto_codes),
            veto_cap=result.veto_cap,
            top_grade_quota=quota,
            top_grade_slots=None if quota is None else math.floor(quota * object_count),
            quota_demoted=result.quota_demoted,
            tie_rule=TIE_RULE,
            grade=result.grade,
        ),
        rank=result.rank,
        peer_count=result.peer_count,
    )
