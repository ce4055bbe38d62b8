"""The hot public reads (the list of published plans and their league tables) as prepared
statements on a pooled connection (``shared.reads``): no ORM session, no transaction. They are
public, so there is nothing to authorize; a plan that is not published reads as absent."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, any_, bindparam, select, tuple_
from sqlalchemy.dialects.postgresql import UUID

from services.appraisal_svc.cycle.models import Cycle
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan.models import Plan
from services.appraisal_svc.publication.schemas import LeagueRow, PublicCycle, PublicPlanSummary, PublicSubjectScore
from services.appraisal_svc.scoring.models import Result, ResultSubject, ScoringRun
from shared.errors import BadRequest, NotFound
from shared.pagination import PageParams, encode_cursor
from shared.reads import Reader, ReadStatement


def _prepared(stmt: Any) -> ReadStatement:
    # Typed loosely: a Select of known column types is not a Select[Any] to mypy.
    return ReadStatement(stmt)


_SUMMARY = (
    select(
        Plan.id,
        Plan.name,
        OrgUnit.org_path.label("owner_org_path"),
        Cycle.id.label("cycle_id"),
        Cycle.kind.label("cycle_kind"),
        Cycle.label.label("cycle_label"),
        Cycle.starts_on,
        Cycle.ends_on,
        ScoringRun.id.label("run_id"),
        ScoringRun.version,
        Plan.published_at,
    )
    .join(OrgUnit, OrgUnit.id == Plan.owner_unit_id)
    .join(ScoringRun, ScoringRun.id == Plan.published_run_id)
    .join(Cycle, Cycle.id == Plan.cycle_id)
    .where(Plan.status == "published")
)
PUBLISHED_BY_ID = _prepared(_SUMMARY.where(Plan.id == bindparam("plan_id")))
PUBLISHED_FIRST = _prepared(_SUMMARY.order_by(Plan.id).limit(bindparam("limit")))
PUBLISHED_AFTER = _prepared(_SUMMARY.where(Plan.id > bindparam("after")).order_by(Plan.id).limit(bindparam("limit")))

_ROWS = (
    select(
        Result.object_id,
        AppraisalObject.name,
        AppraisalObject.kind.label("object_kind"),
        OrgUnit.org_path,
        Result.peer_group,
        Result.rank,
        Result.peer_count,
        Result.composite,
        Result.grade,
        Result.veto_cap,
        Result.bonus,
        Result.deduction,
    )
    .join(AppraisalObject, AppraisalObject.id == Result.object_id)
    .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
    .where(Result.run_id == bindparam("run_id"))
)
_ORDER = (Result.peer_group, Result.rank, Result.object_id)
_AFTER = tuple_(*_ORDER) > tuple_(bindparam("after_group"), bindparam("after_rank"), bindparam("after_object"))
_IN_GROUP = Result.peer_group == bindparam("peer_group")
# One statement per shape (first page or after a cursor, all peer groups or one), each prepared once.
LEAGUE = {
    (False, False): _prepared(_ROWS.order_by(*_ORDER).limit(bindparam("limit"))),
    (False, True): _prepared(_ROWS.where(_IN_GROUP).order_by(*_ORDER).limit(bindparam("limit"))),
    (True, False): _prepared(_ROWS.where(_AFTER).order_by(*_ORDER).limit(bindparam("limit"))),
    (True, True): _prepared(_ROWS.where(_IN_GROUP, _AFTER).order_by(*_ORDER).limit(bindparam("limit"))),
}
CURSOR_ROW = _prepared(
    select(Result.peer_group, Result.rank, Result.object_id).where(
        Result.run_id == bindparam("run_id"), Result.object_id == bindparam("object_id")
    )
)
SUBJECT_SCORES = _prepared(
    select(ResultSubject.object_id, ResultSubject.subject, ResultSubject.score)
    .where(
        ResultSubject.run_id == bindparam("run_id"),
        ResultSubject.object_id == any_(bindparam("object_ids", type_=ARRAY(UUID(as_uuid=True)))),
    )
    .order_by(ResultSubject.object_id, ResultSubject.subject)
)


@dataclass(frozen=True)
class PublishedVersion:
    plan_id: uuid.UUID
    run_id: uuid.UUID
    version: int


def _summary(r: Any) -> PublicPlanSummary:
    """A summary from an asyncpg record of ``_SUMMARY``."""
    return PublicPlanSummary(
        id=r["id"],
        name=r["name"],
        owner_org_path=r["owner_org_path"],
        cycle=PublicCycle(
            id=r["cycle_id"],
            kind=r["cycle_kind"],
            label=r["cycle_label"],
            starts_on=r["starts_on"],
            ends_on=r["ends_on"],
        ),
        result_version=r["version"],
        published_at=r["published_at"],
    )


async def published_version(reader: Reader, plan_id: uuid.UUID) -> PublishedVersion:
    """404 for a plan that does not exist or is not published: the public sees nothing else."""
    row = await reader.one(PUBLISHED_BY_ID, plan_id=plan_id)
    if row is None:
        raise NotFound("No such published plan.")
    return PublishedVersion(plan_id=row["id"], run_id=row["run_id"], version=row["version"])


async def list_published(reader: Reader, *, page: PageParams) -> tuple[list[PublicPlanSummary], str | None]:
    if page.cursor is None:
        rows = await reader.all(PUBLISHED_FIRST, limit=page.limit + 1)
    else:
        rows = await reader.all(PUBLISHED_AFTER, after=page.cursor, limit=page.limit + 1)
    items = [_summary(r) for r in rows[: page.limit]]
    return items, encode_cursor(items[-1].id) if len(rows) > page.limit and items else None


async def league_table(
    reader: Reader, published: PublishedVersion, *, peer_group: str | None, page: PageParams
) -> tuple[list[LeagueRow], str | None]:
    """The published results by peer group, best first (competition rank), then object id; keyset
    pagination whose cursor names the last object of the previous page."""
    params: dict[str, object] = {"run_id": published.run_id, "limit": page.limit + 1}
    if peer_group is not None:
        params["peer_group"] = peer_group
    if page.cursor is not None:
        last = await reader.one(CURSOR_ROW, run_id=published.run_id, object_id=page.cursor)
        if last is None:
            raise BadRequest(
                "The cursor is not valid.", errors=[{"field": "cursor", "message": "not from this league table"}]
            )
        params |= {"after_group": last["peer_group"], "after_rank": last["rank"], "after_object": last["object_id"]}
    rows = await reader.all(LEAGUE[(page.cursor is not None, peer_group is not None)], **params)
    shown = rows[: page.limit]
    scores: dict[uuid.UUID, list[PublicSubjectScore]] = defaultdict(list)
    if shown:
        for s in await reader.all(SUBJECT_SCORES, run_id=published.run_id, object_ids=[r["object_id"] for r in shown]):
            scores[s["object_id"]].append(PublicSubjectScore(subject=s["subject"], score=s["score"]))
    items = [
        LeagueRow(
            object_id=r["object_id"],
            name=r["name"],
            object_kind=r["object_kind"],
            org_path=r["org_path"],
            peer_group=r["peer_group"],
            rank=r["rank"],
            peer_count=r["peer_count"],
            composite=r["composite"],
            grade=r["grade"],
            vetoed=r["veto_cap"] is not None,
            bonus=r["bonus"],
            deduction=r["deduction"],
            subject_scores=scores.get(r["object_id"], []),
        )
        for r in shown
    ]
    return items, encode_cursor(items[-1].object_id) if len(rows) > page.limit and items else None
