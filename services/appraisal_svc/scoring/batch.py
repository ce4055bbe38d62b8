"""Reads in one call for the gateway's DataLoaders: runs and league tables of several plans, and
explain trees of several objects. Each answers as the single route shows it to the caller;
what is out of sight contributes nothing. Kept apart from ``service.py`` (the engine's use
cases), whose rules and reads they use (``RESULT_READERS``, ``run_read``, ``explain``)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.appraisal_svc.access import in_subtree, require_role
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan.models import Plan
from services.appraisal_svc.plan.service import owner_visible_sql
from services.appraisal_svc.scoring.models import Result, ScoringRun
from services.appraisal_svc.scoring.schemas import ResultExplain, ResultRow, ScoringRunRead
from services.appraisal_svc.scoring.service import (
    RESULT_READERS,
    explain,
    load_plan_for_results,
    reads_every_object,
    run_of_version,
    run_read,
)
from shared.auth.principal import Principal, Role
from shared.errors import BadRequest, NotFound, Unprocessable
from shared.pagination import PageParams, encode_cursor

# A batch of league tables is answered whole: at most this many rows across its plans.
MAX_BATCH_ROWS = 10_000


async def runs_of_plans(
    session: AsyncSession, *, principal: Principal, plan_ids: list[uuid.UUID], page: PageParams
) -> tuple[list[ScoringRunRead], str | None]:
    """The runs of several plans, in id order (per plan: oldest first); only plans whose every
    object the caller reads (``/plans/{id}/scoring-runs`` is a 403 or 404 for the others)."""
    require_role(principal, RESULT_READERS, "read scoring runs")
    stmt = (
        select(ScoringRun)
        .join(Plan, Plan.id == ScoringRun.plan_id)
        .join(OrgUnit, OrgUnit.id == Plan.owner_unit_id)
        .where(ScoringRun.plan_id.in_(plan_ids), in_subtree(OrgUnit.org_path, principal.org_path))
    )
    if page.cursor is not None:
        stmt = stmt.where(ScoringRun.id > page.cursor)
    rows = list((await session.scalars(stmt.order_by(ScoringRun.id).limit(page.limit + 1))).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return [await run_read(session, r) for r in rows], encode_cursor(rows[-1].id) if more and rows else None


class LeagueTableOfPlan:
    """One plan's first page of its latest result version, as ``/plans/{id}/results`` gives it."""

    def __init__(self, plan_id: uuid.UUID, run_id: uuid.UUID, version: int) -> None:
        self.plan_id, self.run_id, self.version = plan_id, run_id, version
        self.items: list[ResultRow] = []
        self.next_cursor: str | None = None


async def league_tables_of_plans(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_ids: list[uuid.UUID],
    peer_group: str | None,
    limit: int,
) -> list[LeagueTableOfPlan]:
    """The first ``limit`` rows of each plan's latest league table in one statement (a window per
    run). Readers in a plan's scope see every object, a department its own objects only."""
    if len(plan_ids) * limit > MAX_BATCH_ROWS:
        raise Unprocessable(
            f"At most {MAX_BATCH_ROWS} rows per batch: {len(plan_ids)} plans x limit {limit} is more.",
            errors=[{"field": "limit", "message": f"plans x limit must not exceed {MAX_BATCH_ROWS}"}],
        )
    require_role(principal, RESULT_READERS | {Role.department}, "read results")
    reads_all = principal.has_any(RESULT_READERS)
    department = principal.has_any(frozenset({Role.department}))
    owner = aliased(OrgUnit)  # the plan's owner; OrgUnit itself is the object's unit
    latest = (
        select(ScoringRun.id, ScoringRun.plan_id, ScoringRun.version, owner.org_path.label("owner_path"))
        .join(Plan, Plan.id == ScoringRun.plan_id)
        .join(owner, owner.id == Plan.owner_unit_id)
        .where(
            ScoringRun.plan_id.in_(plan_ids),
            ScoringRun.status == "succeeded",
            owner_visible_sql(principal, owner.org_path),
        )
        .order_by(ScoringRun.plan_id, ScoringRun.version.desc())
        .ext(distinct_on(ScoringRun.plan_id))
    )
    runs = (await session.execute(latest)).all()
    # Per plan: every object (a reader in its scope) or the caller's own objects (a department).
    every = [r.id for r in runs if reads_all and principal.in_scope(r.owner_path)]
    own = [r.id for r in runs if r.id not in set(every) and department]
    if not every and not own:
        return []
    place = (
        func.row_number()
        .over(partition_by=Result.run_id, order_by=(Result.peer_group, Result.rank, Result.object_id))
        .label("place")
    )
    ranked = (
        select(Result, AppraisalObject.name.label("object_name"), place)
        .join(AppraisalObject, AppraisalObject.id == Result.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(
            or_(
                Result.run_id.in_(every),
                Result.run_id.in_(own) & in_subtree(OrgUnit.org_path, principal.org_path),
            )
        )
    )
    if peer_group is not None:
        ranked = ranked.where(Result.peer_group == peer_group)
    inner = ranked.subquery()
    rows = (
        await session.execute(select(inner).where(inner.c.place <= limit + 1).order_by(inner.c.run_id, inner.c.place))
    ).all()
    by_run: dict[uuid.UUID, list[ResultRow]] = defaultdict(list)
    for r in rows:
        by_run[r.run_id].append(
            ResultRow(
                object_id=r.object_id,
                object_name=r.object_name,
                peer_group=r.peer_group,
                composite=r.composite,
                grade=r.grade,
                grade_by_score=r.grade_by_score,
                veto_cap=r.veto_cap,
                quota_demoted=r.quota_demoted,
                rank=r.rank,
                peer_count=r.peer_count,
            )
        )
    tables = []
    for run in runs:
        if run.id not in every and run.id not in own:
            continue
        table = LeagueTableOfPlan(run.plan_id, run.id, run.version)
        found = by_run.get(run.id, [])
        table.items = found[:limit]
        # The per-plan route's cursor: the last object shown, when more follow.
        table.next_cursor = encode_cursor(table.items[-1].object_id) if len(found) > limit else None
        tables.append(table)
    return tables


# Explain trees per batch call: each is a handful of reads of one object's rows.
MAX_EXPLAINS = 100


async def explains_of_objects(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_id: uuid.UUID,
    object_ids: list[uuid.UUID],
    version: int | None,
) -> list[ResultExplain]:
    """The explain trees of several objects in one result version, each as
    ``/plans/{id}/results/{object_id}`` shows it to the caller; an object without a result, or
    outside a department's own, contributes nothing."""
    if len(object_ids) > MAX_EXPLAINS:
        raise BadRequest(
            f"At most {MAX_EXPLAINS} objects per request.", errors=[{"field": "object_ids", "message": "too many"}]
        )
    plan, owner_path = await load_plan_for_results(session, principal=principal, plan_id=plan_id)
    wanted = list(dict.fromkeys(object_ids))
    if not reads_every_object(principal, owner_path):
        paths = dict(
            (
                await session.execute(
                    select(AppraisalObject.id, OrgUnit.org_path)
                    .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
                    .where(AppraisalObject.id.in_(wanted))
                )
            ).all()
        )
        wanted = [o for o in wanted if o in paths and principal.in_scope(paths[o])]
    run = await run_of_version(session, plan.id, version)
    found = []
    for object_id in wanted:
        try:
            found.append(await explain(session, plan, object_id, run))
        except NotFound:
            continue
    return found
