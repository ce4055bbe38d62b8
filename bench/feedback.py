"""feedback: applying one `appraisal.results.published` of a large plan (2,000 objects x 20 leaves,
8 peer groups) through the real handler, against a row-at-a-time ORM baseline writing the same rows
in the same run; then the usage report over it. Each measurement runs in a rolled-back transaction."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from contracts.appraisal_results import APPRAISAL_RESULTS_PUBLISHED, LeafResult, ObjectResult, ResultsPublished
from services.feedback_svc.case import logic
from services.feedback_svc.case.intake import apply_results_published, recommendation_json
from services.feedback_svc.case.models import ImprovementCase, PlanResult
from services.feedback_svc.case.models import ObjectResult as ObjectResultRow
from services.feedback_svc.usage import service as usage
from services.feedback_svc.usage.models import Decision
from shared.db import create_engine, make_sessionmaker
from shared.events import make_event
from shared.migrations import upgrade
from shared.stack import get_service


def big_plan(objects: int, leaves: int) -> ResultsPublished:
    def leaf(i: int, j: int) -> LeafResult:
        value = Decimal((i * 7 + j * 13) % 100)
        attainment = min(value / Decimal(80), Decimal(1)).quantize(Decimal("0.000001"))
        return LeafResult(
            indicator_code=f"L{j:02d}",
            name=f"Leaf {j}",
            kind="satisfaction" if j == 0 else "quantitative",
            value=value,
            target=Decimal(80),
            attainment=attainment,
            marks=(attainment * 5).quantize(Decimal("0.000001")),
            max_marks=Decimal(5),
        )

    items = [
        ObjectResult(
            object_id=uuid.uuid4(),
            object_kind="government",
            name=f"County {i}",
            org_unit_id=uuid.uuid4(),
            org_path=f"/gd/c{i % 8}/u{i}",
            peer_group=f"group{i % 8}",
            composite=Decimal(i % 100),
            grade="ABCD"[i % 4],
            rank=i // 8 + 1,
            peer_count=objects // 8,
            leaves=[leaf(i, j) for j in range(leaves)],
        )
        for i in range(objects)
    ]
    return ResultsPublished(
        plan_id=uuid.uuid4(),
        plan_name="bench plan",
        result_version=1,
        cycle_id=uuid.uuid4(),
        cycle_kind="annual",
        cycle_label="2026",
        cycle_start="2026-01-01",  # type: ignore[arg-type]
        cycle_end="2026-12-31",  # type: ignore[arg-type]
        owner_org_path="/gd",
        framework_id=uuid.uuid4(),
        framework_hash="0" * 64,
        grade_scale=("A", "B", "C", "D"),
        results_hash="0" * 64,
        published_at="2027-02-01T00:00:00Z",  # type: ignore[arg-type]
        object_count=objects,
        objects=items,
    )


async def orm_baseline(session: Any, payload: ResultsPublished) -> None:
    """What a row-at-a-time implementation does: one ORM object per row, flushed."""
    session.add(
        PlanResult(
            plan_id=payload.plan_id,
            plan_name=payload.plan_name,
            result_version=payload.result_version,
            cycle_id=payload.cycle_id,
            cycle_label=payload.cycle_label,
            owner_org_path=payload.owner_org_path,
            grade_scale=list(payload.grade_scale),
            results_hash=payload.results_hash,
            published_at=payload.published_at,
        )
    )
    await session.flush()
    groups: dict[str, list[ObjectResult]] = {}
    for o in payload.objects:
        groups.setdefault(o.peer_group, []).append(o)
    peers = {group: logic.peer_statistics(members) for group, members in groups.items()}
    for o in payload.objects:
        session.add(
            ObjectResultRow(
                plan_id=payload.plan_id,
                object_id=o.object_id,
                result_version=1,
                cycle_id=payload.cycle_id,
                object_kind=o.object_kind,
                name=o.name,
                org_unit_id=o.org_unit_id,
                org_path=o.org_path,
                peer_group=o.peer_group,
                composite=o.composite,
                grade=o.grade,
                rank=o.rank,
                peer_count=o.peer_count,
                vetoed=o.vetoed,
                result=o.model_dump(mode="json"),
            )
        )
        diagnosis = logic.diagnose(
            o, peers=peers[o.peer_group], previous=None, policy=logic.CasePolicy(), grade_scale=payload.grade_scale
        )
        if diagnosis.opens_case:
            session.add(
                ImprovementCase(
                    plan_id=payload.plan_id,
                    plan_name=payload.plan_name,
                    cycle_id=payload.cycle_id,
                    cycle_label=payload.cycle_label,
                    result_version=1,
                    object_id=o.object_id,
                    object_kind=o.object_kind,
                    object_name=o.name,
                    org_unit_id=o.org_unit_id,
                    org_path=o.org_path,
                    grade=o.grade,
                    composite=o.composite,
                    rank=o.rank,
                    peer_count=o.peer_count,
                    status="open",
                    reasons=list(diagnosis.reasons),
                    recommendations=[recommendation_json(r) for r in diagnosis.recommendations],
                    lock_version=1,
                )
            )
        await session.flush()


async def measure(database_url: str, objects: int, leaves: int) -> dict[str, float | int]:
    await asyncio.to_thread(upgrade, get_service("feedback"), database_url)
    engine = create_engine(database_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    payload = big_plan(objects, leaves)
    event = make_event(APPRAISAL_RESULTS_PUBLISHED, payload, source="bench", subject=str(payload.plan_id))
    figures: dict[str, float | int] = {"objects": objects, "leaves_per_object": leaves}
    try:
        async with sessions() as session, session.begin():
            started = time.perf_counter()
            await orm_baseline(session, payload)
            figures["orm_row_at_a_time_s"] = time.perf_counter() - started
            await session.rollback()
        async with sessions() as session, session.begin():
            started = time.perf_counter()
            await apply_results_published(session, event)
            figures["set_based_handler_s"] = time.perf_counter() - started
            figures["cases_opened"] = int(
                await session.scalar(
                    select(func.count()).select_from(ImprovementCase).where(ImprovementCase.plan_id == payload.plan_id)
                )
                or 0
            )
            session.add_all(
                Decision(
                    plan_id=payload.plan_id,
                    result_version=1,
                    cycle_id=payload.cycle_id,
                    object_id=o.object_id,
                    object_kind=o.object_kind,
                    object_name=o.name,
                    org_path=o.org_path,
                    grade=o.grade,
                    kind="training",
                    summary="bench",
                    decided_on=payload.published_at.date(),
                    decided_by="bench",
                    decided_as="perf_office",
                )
                for o in payload.objects[::3]
            )
            await session.flush()
            started = time.perf_counter()
            await usage.usage_report(session, cycle_id=payload.cycle_id, org_path="/gd")
            figures["usage_report_ms"] = (time.perf_counter() - started) * 1000
            await session.rollback()
    finally:
        await engine.dispose()
    figures["speedup"] = figures["orm_row_at_a_time_s"] / figures["set_based_handler_s"]
    return figures


def run(database_url: str, *, objects: int = 2000, leaves: int = 20) -> dict[str, float | int]:
    return asyncio.run(measure(database_url, objects, leaves))
