"""The league table of a result version (``GET /plans/{id}/results``, the hottest internal read)
as prepared statements on a pooled connection (``shared.reads``): no ORM session. The checks are
those of ``service.explain_for``: the plan in sight, readers in its scope see every object, a
department its own objects only."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_

from services.appraisal_svc.access import READERS, require_role
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan.models import Plan
from services.appraisal_svc.plan.service import visible
from services.appraisal_svc.scoring.models import Result, ScoringRun
from services.appraisal_svc.scoring.schemas import ResultRow
from services.appraisal_svc.scoring.service import reads_every_object
from shared.auth.principal import Principal, Role
from shared.errors import BadRequest, Forbidden, NotFound
from shared.pagination import PageParams, encode_cursor
from shared.reads import Reader, ReadStatement


def _prepared(stmt: Any) -> ReadStatement:
    # Typed loosely: a Select of known column types is not a Select[Any] to mypy.
    return ReadStatement(stmt)


PLAN_OWNER = _prepared(
    select(Plan.id, OrgUnit.org_path)
    .join(OrgUnit, OrgUnit.id == Plan.owner_unit_id)
    .where(Plan.id == bindparam("plan_id"))
)
_RUN = select(ScoringRun.id, ScoringRun.version).where(
    ScoringRun.plan_id == bindparam("plan_id"), ScoringRun.status == "succeeded"
)
LATEST_RUN = _prepared(_RUN.order_by(ScoringRun.version.desc()).limit(1))
RUN_OF_VERSION = _prepared(_RUN.where(ScoringRun.version == bindparam("version")))
CURSOR_ROW = _prepared(
    select(Result.peer_group, Result.rank, Result.object_id).where(
        Result.run_id == bindparam("run_id"), Result.object_id == bindparam("object_id")
    )
)

_ORDER = (Result.peer_group, Result.rank, Result.object_id)


def _league(own: bool, group: bool, after: bool) -> ReadStatement:
    stmt = (
        select(
            Result.object_id,
            AppraisalObject.name.label("object_name"),
            Result.peer_group,
            Result.composite,
            Result.grade,
            Result.grade_by_score,
            Result.veto_cap,
            Result.quota_demoted,
            Result.rank,
            Result.peer_count,
        )
        .join(AppraisalObject, AppraisalObject.id == Result.object_id)
        .where(Result.run_id == bindparam("run_id"))
    )
    if own:  # the caller's subtree: the path itself or below it (starts_with needs no LIKE escaping)
        stmt = stmt.join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id).where(
            (OrgUnit.org_path == bindparam("scope")) | func.starts_with(OrgUnit.org_path, bindparam("below"))
        )
    if group:
        stmt = stmt.where(Result.peer_group == bindparam("peer_group"))
    if after:
        stmt = stmt.where(
            tuple_(*_ORDER) > tuple_(bindparam("after_group"), bindparam("after_rank"), bindparam("after_object"))
        )
    return _prepared(stmt.order_by(*_ORDER).limit(bindparam("limit")))


# One statement per shape, each prepared once per connection.
LEAGUE = {(o, g, a): _league(o, g, a) for o in (False, True) for g in (False, True) for a in (False, True)}


async def league_table(
    reader: Reader,
    *,
    principal: Principal,
    plan_id: uuid.UUID,
    version: int | None,
    peer_group: str | None,
    page: PageParams,
) -> tuple[uuid.UUID, int, list[ResultRow], str | None]:
    """(run id, version, rows, next cursor) of the league table: by peer group, then rank."""
    require_role(principal, READERS, "read plans")
    plan = await reader.one(PLAN_OWNER, plan_id=plan_id)
    if plan is None or not visible(principal, plan["org_path"]):
        raise NotFound("No such plan.")
    every = reads_every_object(principal, plan["org_path"])
    if not every and not principal.has_any(frozenset({Role.department})):
        raise Forbidden("Results before publication are for the performance office and the joint-meeting units.")
    if version is None:
        run = await reader.one(LATEST_RUN, plan_id=plan_id)
        if run is None:
            raise NotFound("The plan has no results yet.")
    else:
        run = await reader.one(RUN_OF_VERSION, plan_id=plan_id, version=version)
        if run is None:
            raise NotFound(f"The plan has no result version {version}.")
    own = not every and principal.org_path != "/"
    params: dict[str, Any] = {"run_id": run["id"], "limit": page.limit + 1}
    if own:
        params |= {"scope": principal.org_path, "below": principal.org_path + "/"}
    if peer_group is not None:
        params["peer_group"] = peer_group
    if page.cursor is not None:
        last = await reader.one(CURSOR_ROW, run_id=run["id"], object_id=page.cursor)
        if last is None:
            raise BadRequest(
                "The cursor is not valid.", errors=[{"field": "cursor", "message": "not from this league table"}]
            )
        params |= {"after_group": last["peer_group"], "after_rank": last["rank"], "after_object": last["object_id"]}
    rows = await reader.all(LEAGUE[(own, peer_group is not None, page.cursor is not None)], **params)
    items = [ResultRow.model_validate(dict(r)) for r in rows[: page.limit]]
    cursor = encode_cursor(items[-1].object_id) if len(rows) > page.limit and items else None
    return run["id"], run["version"], items, cursor
