"""Applying `appraisal.results.published`: store the result, then open or update cases.

Set-based: one upsert for all object results and one for all cases of the event, whatever
the plan's size. Idempotent per plan, result version and object (the inbox stops redeliveries;
the version check stops an older version arriving after a newer one)."""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from typing import Any, cast

from sqlalchemy import Table, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.appraisal_results import ObjectResult as PublishedObject
from contracts.appraisal_results import ResultsPublished
from services.feedback_svc.case import logic
from services.feedback_svc.case.by_reference import PublishedObjects, ResultsByReference
from services.feedback_svc.case.models import ImprovementCase, ObjectResult, PlanCasePolicy, PlanResult
from shared.auth.principal import path_within
from shared.db import utcnow
from shared.events import CloudEvent
from shared.ids import new_id

log = logging.getLogger("govperf.feedback.intake")


def uuid_array(ids: list[Any]) -> Any:
    """One array parameter however many ids (an IN list spends a bind parameter per id)."""
    return bindparam(None, ids, type_=ARRAY(UUID(as_uuid=True)))


RECOMMENDATION_FIELDS = tuple(f.name for f in dataclasses.fields(logic.Recommendation))


def recommendation_json(rec: logic.Recommendation) -> dict[str, Any]:
    # Not dataclasses.asdict: its deep copy costs more than the diagnosis itself on a large plan.
    out: dict[str, Any] = {}
    for name in RECOMMENDATION_FIELDS:
        value = getattr(rec, name)
        out[name] = str(value) if value is not None and not isinstance(value, str | int) else value
    return out


async def policy_for(session: AsyncSession, published: ResultsPublished) -> logic.CasePolicy:
    row = await session.get(PlanCasePolicy, published.plan_id)
    # A policy set by an office that does not own the plan (say, a county guessing the city's plan
    # id before it was published) is ignored: the defaults apply.
    if row is None or not path_within(published.owner_org_path, row.org_path):
        return logic.CasePolicy()
    return logic.CasePolicy(
        min_attainment=row.min_attainment, min_satisfaction=row.min_satisfaction, grade_cutoff=row.grade_cutoff
    )


async def previous_results(session: AsyncSession, published: ResultsPublished) -> dict[Any, PublishedObject]:
    if published.previous_cycle_id is None:
        return {}
    rows = await session.execute(
        select(ObjectResult.object_id, ObjectResult.result).where(
            ObjectResult.cycle_id == published.previous_cycle_id,
            ObjectResult.object_id == any_(uuid_array([o.object_id for o in published.objects])),
        )
    )
    return {row.object_id: PublishedObject.model_validate(row.result) for row in rows}


async def apply_results_published(
    session: AsyncSession, event: CloudEvent, *, by_reference: PublishedObjects | None = None
) -> None:
    published = ResultsPublished.model_validate(event.data)
    if published.objects_ref is not None:
        # A big plan: its objects come from appraisal_svc, checked against the event's count and hash,
        # and are then handled exactly like inline ones (a mismatch fails the delivery, never half-applies).
        if by_reference is None:
            raise ResultsByReference(f"results of plan {published.plan_id} were published by reference")
        objects = await by_reference.fetch(published)
        published = published.model_copy(update={"objects": objects})
    current = await session.scalar(
        select(PlanResult.result_version).where(PlanResult.plan_id == published.plan_id).with_for_update()
    )
    if current is not None and current >= published.result_version:
        log.info(
            "results v%s of plan %s are not newer than v%s; ignored",
            published.result_version,
            published.plan_id,
            current,
        )
        return
    plan_values = {
        "plan_id": published.plan_id,
        "plan_name": published.plan_name,
        "result_version": published.result_version,
        "cycle_id": published.cycle_id,
        "cycle_label": published.cycle_label,
        "previous_cycle_id": published.previous_cycle_id,
        "owner_org_path": published.owner_org_path,
        "grade_scale": list(published.grade_scale),
        "results_hash": published.results_hash,
        "published_at": published.published_at,
        "received_at": utcnow(),
    }
    plan_insert = pg_insert(PlanResult).values(**plan_values)
    await session.execute(
        plan_insert.on_conflict_do_update(
            index_elements=[PlanResult.plan_id],
            set_={k: plan_insert.excluded[k] for k in plan_values if k != "plan_id"},
        )
    )
    await store_object_results(session, published)
    await open_or_update_cases(session, published)


async def store_object_results(session: AsyncSession, published: ResultsPublished) -> None:
    rows = [
        {
            "id": new_id(),
            "plan_id": published.plan_id,
            "object_id": o.object_id,
            "result_version": published.result_version,
            "cycle_id": published.cycle_id,
            "object_kind": o.object_kind,
            "name": o.name,
            "org_unit_id": o.org_unit_id,
            "org_path": o.org_path,
            "peer_group": o.peer_group,
            "composite": o.composite,
            "grade": o.grade,
            "rank": o.rank,
            "peer_count": o.peer_count,
            "vetoed": o.vetoed,
            "result": o.model_dump(mode="json"),
        }
        for o in published.objects
    ]
    if not rows:
        return
    # One statement executed for many parameter sets: compiled once, sent in batches (insertmanyvalues),
    # instead of compiling a multi-row VALUES clause with tens of thousands of bind parameters.
    stmt = pg_insert(cast(Table, ObjectResult.__table__))
    updated = {k: stmt.excluded[k] for k in rows[0] if k not in {"id", "plan_id", "object_id"}}
    await session.execute(stmt.on_conflict_do_update(index_elements=["plan_id", "object_id"], set_=updated), rows)


async def open_or_update_cases(session: AsyncSession, published: ResultsPublished) -> None:
    policy = await policy_for(session, published)
    previous = await previous_results(session, published)
    groups: dict[str, list[PublishedObject]] = defaultdict(list)
    for o in published.objects:
        groups[o.peer_group].append(o)
    peers = {group: logic.peer_statistics(members) for group, members in groups.items()}
    now = utcnow()
    rows, cleared = [], []
    for o in published.objects:
        diagnosis = logic.diagnose(
            o,
            peers=peers[o.peer_group],
            previous=previous.get(o.object_id),
            policy=policy,
            grade_scale=published.grade_scale,
        )
        if not diagnosis.opens_case:
            cleared.append(o)
            continue
        rows.append(
            {
                "id": new_id(),
                "plan_id": published.plan_id,
                "plan_name": published.plan_name,
                "cycle_id": published.cycle_id,
                "cycle_label": published.cycle_label,
                "result_version": published.result_version,
                "object_id": o.object_id,
                "object_kind": o.object_kind,
                "object_name": o.name,
                "org_unit_id": o.org_unit_id,
                "org_path": o.org_path,
                "grade": o.grade,
                "composite": o.composite,
                "rank": o.rank,
                "peer_count": o.peer_count,
                "status": logic.CaseStatus.open.value,
                "reasons": list(diagnosis.reasons),
                "recommendations": [recommendation_json(r) for r in diagnosis.recommendations],
                "created_at": now,
                "updated_at": now,
                "lock_version": 1,
            }
        )
    refreshed = (
        "result_version",
        "plan_name",
        "grade",
        "composite",
        "rank",
        "peer_count",
        "reasons",
        "recommendations",
    )
    if rows:
        table = cast(Table, ImprovementCase.__table__)
        stmt = pg_insert(table)
        # A newer result version refreshes the diagnosis of cases still being worked on; a closed
        # case keeps what it was closed on (a reopen is a person's decision, not an event's).
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["plan_id", "object_id"],
                set_={k: stmt.excluded[k] for k in refreshed}
                | {"updated_at": now, "lock_version": table.c.lock_version + 1},
                where=table.c.status != logic.CaseStatus.closed.value,
            ),
            rows,
        )
    await clear_cases_no_longer_short(session, published, cleared, now)


async def clear_cases_no_longer_short(
    session: AsyncSession, published: ResultsPublished, cleared: list[PublishedObject], now: Any
) -> None:
    """A corrected result that no longer falls short leaves its open case without reasons, which
    lets the office close it without tasks (the case and its history stay)."""
    if not cleared:
        return

    def stored(column: Any) -> Any:
        return (
            select(column)
            .where(ObjectResult.plan_id == ImprovementCase.plan_id, ObjectResult.object_id == ImprovementCase.object_id)
            .scalar_subquery()
        )

    await session.execute(
        update(ImprovementCase)
        .where(
            ImprovementCase.plan_id == published.plan_id,
            ImprovementCase.object_id == any_(uuid_array([o.object_id for o in cleared])),
            ImprovementCase.status != logic.CaseStatus.closed.value,
        )
        .values(
            result_version=published.result_version,
            grade=stored(ObjectResult.grade),
            composite=stored(ObjectResult.composite),
            rank=stored(ObjectResult.rank),
            peer_count=stored(ObjectResult.peer_count),
            reasons=[],
            recommendations=[],
            updated_at=now,
            lock_version=ImprovementCase.lock_version + 1,
        )
        .execution_options(synchronize_session=False)
    )
