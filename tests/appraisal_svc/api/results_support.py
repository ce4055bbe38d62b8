"""Result versions written straight into the result tables, as a finished scoring run leaves them,
so that review, objection and publication are tested on known numbers; and the steps that take
a plan from collecting to its objection period."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.scoring import HASH_RULES
from services.appraisal_svc.db import JOBS
from services.appraisal_svc.plan.models import PlanObject
from services.appraisal_svc.publication import service as publication_service
from services.appraisal_svc.scoring import service as scoring_service
from services.appraisal_svc.scoring.models import Result, ResultObjectLeaves, ResultSubject, ScoringRun, object_leaves
from shared import jobs
from tests.appraisal_svc.api.support import Api, World
from tests.appraisal_svc.api.test_scoring import accepted, no_progress, score_now

GRADES = (("A", Decimal(90)), ("B", Decimal(75)), ("C", Decimal(60)), ("D", Decimal(0)))
SUBJECTS = {"performance_office": Decimal("0.6"), "public": Decimal("0.3"), "experts": Decimal("0.1")}


def grade_of(composite: Decimal) -> str:
    return next(g for g, low in GRADES if composite >= low)


async def insert_run(
    db: AsyncSession,
    plan_id: str,
    composites: dict[str, Decimal],
    *,
    version: int,
    status: str = "succeeded",
    veto: dict[str, str] | None = None,
) -> uuid.UUID:
    """A run of ``version`` whose objects score ``composites`` (object id -> composite). Each
    object's composite is its performance-office contribution from leaf E1 (60 marks), the rest 0,
    so the tree sums: E1 earned = composite, subject score = composite / 60 x 100."""
    veto = veto or {}
    peer_groups = dict(
        (
            await db.execute(
                select(PlanObject.object_id, PlanObject.peer_group).where(PlanObject.plan_id == uuid.UUID(plan_id))
            )
        ).all()
    )
    run_id = uuid.uuid4()
    digest = hashlib.sha256(f"{plan_id}:{version}:{sorted(composites.items())}".encode()).hexdigest()
    now = dt.datetime.now(dt.UTC)
    await db.execute(
        insert(ScoringRun).values(
            id=run_id,
            plan_id=uuid.UUID(plan_id),
            version=version,
            status=status,
            reason="requested",
            requested_by="office-sz",
            requested_at=now,
            started_at=now if status != "queued" else None,
            finished_at=now if status == "succeeded" else None,
            object_count=len(composites),
            value_count=len(composites),
            results_hash=digest if status == "succeeded" else None,
            hash_rules=HASH_RULES if status == "succeeded" else None,
        )
    )
    if status != "succeeded":
        await db.commit()
        return run_id
    by_group: dict[str, list[Decimal]] = {}
    for object_id, composite in composites.items():
        by_group.setdefault(peer_groups[uuid.UUID(object_id)], []).append(composite)
    results, subjects, leaves = [], [], []
    for object_id, composite in composites.items():
        oid = uuid.UUID(object_id)
        group = by_group[peer_groups[oid]]
        cap = veto.get(object_id)
        results.append(
            {
                "run_id": run_id,
                "object_id": oid,
                "plan_id": uuid.UUID(plan_id),
                "peer_group": peer_groups[oid],
                "base": composite,
                "bonus": Decimal(0),
                "deduction": Decimal(0),
                "composite": composite,
                "grade_by_score": grade_of(composite),
                "veto_cap": cap,
                "veto_codes": ["safety"] if cap else [],
                "quota_demoted": False,
                "grade": cap or grade_of(composite),
                "rank": 1 + sum(1 for other in group if other > composite),
                "peer_count": len(group),
            }
        )
        for subject, weight in SUBJECTS.items():
            earned = composite if subject == "performance_office" else Decimal(0)
            marks = Decimal(60) if subject == "performance_office" else Decimal(30 if subject == "public" else 10)
            subjects.append(
                {
                    "run_id": run_id,
                    "object_id": oid,
                    "subject": subject,
                    "weight": weight,
                    "earned": earned,
                    "marks": marks,
                    "score": (100 * earned / marks).quantize(Decimal("0.01")),
                    "contribution": earned,
                }
            )
        leaves.append(
            {
                "run_id": run_id,
                "object_id": oid,
                "indicator_code": "E1",
                "subject": "performance_office",
                "value": composite * 10,
                "target": Decimal(1000),
                "baseline": Decimal(900),
                "share": composite / 60,
                "marks": Decimal(60),
                "earned": composite,
                "missing": False,
                "data_point_id": None,
            }
        )
        leaves.append(
            {
                "run_id": run_id,
                "object_id": oid,
                "indicator_code": "S1",
                "subject": "public",
                "value": None,
                "target": None,
                "baseline": None,
                "share": None,
                "marks": Decimal(30),
                "earned": Decimal(0),
                "missing": True,
                "data_point_id": None,
            }
        )
    await db.execute(insert(Result), results)
    await db.execute(insert(ResultSubject), subjects)
    await db.execute(insert(ResultObjectLeaves), object_leaves(leaves))
    await db.commit()
    return run_id


# Values of leaf E1 (target 1000 for every county): ns and lh tie at the top, then ft, bx, lg, yt.
E1_VALUES = {"ft": "900", "ns": "1000", "lh": "1000", "bx": "800", "lg": "500", "yt": "0"}


def default_composites(world: World) -> dict[str, Decimal]:
    """For the versions written directly: ft best, then ns and lh tied, then the rest."""
    scores = [Decimal("58.5"), Decimal("51.25"), Decimal("51.25"), Decimal("40"), Decimal("33.1"), Decimal("12")]
    return dict(zip(world.objects.values(), scores, strict=True))


async def to_scoring(api: Api, world: World) -> None:
    await api.collecting(world)
    r = await api.transition(world.plan["id"], "scoring", reason="all data verified early")
    assert r.status_code == 200, r.text


async def finish_run(api: Api, run_id: str) -> dict[str, Any]:
    """The job worker's handler runs the queued run in the test's transaction."""
    await scoring_service.run_scoring(api.db, run_id=uuid.UUID(run_id), report=no_progress)
    await api.db.execute(
        text("UPDATE appraisal.job SET status = 'succeeded' WHERE params ->> 'run_id' = :r"), {"r": run_id}
    )
    await api.db.commit()
    runs = await api.ok("GET", f"/plans/{(await _plan_of_run(api, run_id))}/scoring-runs/{run_id}")
    assert runs["status"] == "succeeded", runs
    return dict(runs)


async def _plan_of_run(api: Api, run_id: str) -> str:
    return str(await api.db.scalar(select(ScoringRun.plan_id).where(ScoringRun.id == uuid.UUID(run_id))))


async def to_objection(api: Api, world: World) -> dict[str, Any]:
    """E1 values accepted, the plan scored by the engine (version 1), reviewed and in its
    objection period; returns the run."""
    await to_scoring(api, world)
    for county, value in E1_VALUES.items():
        await accepted(api, world.objects[county], "E1", value)
    run = await score_now(api, world.plan["id"])
    for step in ("reviewed", "objection"):
        r = await api.transition(world.plan["id"], step)
        assert r.status_code == 200, r.text
    return dict(run)


async def close_objection_period(api: Api, plan_id: str) -> None:
    await api.db.execute(
        text("UPDATE appraisal.plan SET objection_closes_at = now() - interval '1 second' WHERE id = :id"),
        {"id": plan_id},
    )
    await api.db.commit()


async def published_events(api: Api, plan_id: str) -> list[dict[str, Any]]:
    rows = await api.db.execute(
        text(
            "SELECT envelope FROM appraisal.outbox WHERE envelope->>'type' = 'appraisal.results.published' "
            "AND envelope->>'subject' = :id ORDER BY sequence"
        ),
        {"id": plan_id},
    )
    return [r[0] for r in rows.all()]


async def request_publication(api: Api, plan_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST .../publications with the plan's current ETag unless ``headers`` carry an If-Match."""
    sent = dict(headers or api.office)
    if "If-Match" not in sent:
        sent["If-Match"] = await api.plan_etag(plan_id)
    return await api.call("POST", f"/plans/{plan_id}/publications", headers=sent)


async def finish_publication(api: Api, plan_id: str, publication_id: str) -> dict[str, Any]:
    """The job worker's handler runs the queued publication in the test's transaction (as the
    worker would, with the job's status in the same commit); the job as GET shows it."""
    job = await jobs.get(api.db, JOBS, uuid.UUID(publication_id))
    assert job is not None
    try:
        async with api.db.begin_nested():
            result = await publication_service.publish_job(api.db, job, no_progress)
    except Exception as exc:
        await api.db.execute(
            update(JOBS).where(JOBS.c.id == job.id).values(status="failed", error=str(exc), finished_at=text("now()"))
        )
    else:
        await api.db.execute(
            update(JOBS)
            .where(JOBS.c.id == job.id)
            .values(status="succeeded", progress=1, result=result, finished_at=text("now()"))
        )
    await api.db.commit()
    return dict(await api.ok("GET", f"/plans/{plan_id}/publications/{publication_id}"))


async def publish_now(api: Api, plan_id: str) -> dict[str, Any]:
    """Request the publication and let the worker's handler run it; the publication job."""
    response = await request_publication(api, plan_id)
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/plans/{plan_id}/publications/{body['id']}"
    return await finish_publication(api, plan_id, body["id"])


async def publish(api: Api, world: World) -> dict[str, Any]:
    """The objection period closed, the plan published through its job; the plan as GET shows it."""
    await close_objection_period(api, world.plan["id"])
    job = await publish_now(api, world.plan["id"])
    assert job["status"] == "succeeded", job
    return dict(await api.ok("GET", f"/plans/{world.plan['id']}"))
