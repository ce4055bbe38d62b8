# ruff: noqa: E501 - long SQL statements read better unbroken
"""Publication of a big plan on the embedded stack: one scored version of OBJECTS objects x LEAVES
leaves (written with COPY, as the engine leaves them), then the publication job as the service's
worker runs it (claim, the guards, the results event by reference with its objects_hash over every
object and leaf, the plan's new state, the audit entry, one commit), and the public downloads.
Beside it, in the same run, a baseline: one raw SELECT of the same result rows with sha256 over
their text (what any hash over them must at least read)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text

from services.appraisal_svc.api.public import csv_chunks, xlsx_workbook
from services.appraisal_svc.cycle.models import Cycle
from services.appraisal_svc.db import JOBS
from services.appraisal_svc.framework.models import FrameworkVersion
from services.appraisal_svc.orgunit.models import OrgUnit
from services.appraisal_svc.plan.models import Plan
from services.appraisal_svc.publication import service as publication
from services.appraisal_svc.publication.service import PUBLISH_PLAN, publish_job
from services.appraisal_svc.scoring.models import ScoringRun, object_leaves
from shared import jobs
from shared.db import committing, create_engine, make_sessionmaker
from shared.jobs import JobWorker
from shared.messaging import outbox
from shared.migrations import upgrade
from shared.stack import get_service

SUBJECTS = ("performance_office", "public")


async def _setup(engine: Any, objects: int, leaves: int) -> tuple[uuid.UUID, uuid.UUID]:
    """A plan in its objection period (closed) with one succeeded version; returns (plan, run)."""
    plan_id, run_id, root, cycle_id, framework_id = (uuid.uuid4() for _ in range(5))
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(
            text(
                "TRUNCATE appraisal.plan, appraisal.appraisal_object, appraisal.org_unit, appraisal.outbox, appraisal.job CASCADE"
            )
        )
    sessions = make_sessionmaker(engine)
    async with committing(sessions()) as session:
        session.add(OrgUnit(id=root, code="b", name="B", kind="province", org_path="/b", peer_group="p", deleted=False))
        session.add(
            FrameworkVersion(
                id=framework_id,
                lineage_id=uuid.uuid4(),
                version=1,
                code="bench",
                name="Bench",
                org_path="/b",
                content_hash="0" * 64,
                snapshot={},
                published_at=now,
            )
        )
        session.add(
            Cycle(
                id=cycle_id,
                kind="annual",
                label="2026",
                starts_on=dt.date(2026, 1, 1),
                ends_on=dt.date(2026, 12, 31),
                org_path="/b",
                created_by="bench",
            )
        )
        await session.flush()
        session.add(
            Plan(
                id=plan_id,
                name="Bench plan",
                cycle_id=cycle_id,
                framework_id=framework_id,
                framework_hash="0" * 64,
                owner_unit_id=root,
                status="objection",
                subject_weights={"performance_office": "0.6", "public": "0.4"},
                grade_scheme={"grades": [{"grade": "A", "min_score": "90"}, {"grade": "B", "min_score": "0"}]},
                missing_rule="zero",
                objection_closes_at=now - dt.timedelta(seconds=1),
                submission_deadline=now,
                verification_deadline=now,
                created_by="bench",
                lock_version=1,
            )
        )
        await session.flush()
        session.add(
            ScoringRun(
                id=run_id,
                plan_id=plan_id,
                version=1,
                status="succeeded",
                reason="bench",
                requested_by="bench",
                results_hash="1" * 64,
            )
        )
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO appraisal.org_unit (id, code, name, kind, parent_id, org_path, peer_group, deleted, lock_version, created_at, updated_at) "
                "SELECT gen_random_uuid(), 'c' || n, 'County ' || n, 'county', :root, '/b/c' || n, 'county', false, 1, now(), now() "
                "FROM generate_series(1, :n) AS n"
            ),
            {"root": root, "n": objects},
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.appraisal_object (id, kind, org_unit_id, code, name, peer_group, created_by, created_at, lock_version) "
                "SELECT id, 'government', id, code, name, 'county', 'bench', now(), 1 FROM appraisal.org_unit WHERE kind = 'county'"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan_object (plan_id, object_id, peer_group) SELECT :p, id, 'county' FROM appraisal.appraisal_object"
            ),
            {"p": plan_id},
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan_leaf (plan_id, indicator_code, metric, name, kind, direction, weight, method, scoring, evaluation_subjects) "
                "SELECT :p, 'L' || n, 'L' || n, 'Leaf ' || n, 'quantitative', 'higher_better', 1, 'target_ratio', '{}'::jsonb, "
                "ARRAY[CASE WHEN n % 2 = 0 THEN 'performance_office' ELSE 'public' END] FROM generate_series(1, :l) AS n"
            ),
            {"p": plan_id, "l": leaves},
        )
        ids = [r[0] for r in (await conn.execute(text("SELECT id FROM appraisal.appraisal_object ORDER BY id"))).all()]
        driver = (await conn.get_raw_connection()).driver_connection
        composite = [Decimal(n % 1000) / 10 for n in range(len(ids))]
        ranks = {c: 1 + i for i, c in reversed(list(enumerate(sorted(composite, reverse=True))))}
        await driver.copy_records_to_table(  # type: ignore[union-attr]
            "result",
            schema_name="appraisal",
            columns=[
                "run_id",
                "object_id",
                "plan_id",
                "peer_group",
                "base",
                "bonus",
                "deduction",
                "composite",
                "grade_by_score",
                "veto_codes",
                "quota_demoted",
                "grade",
                "rank",
                "peer_count",
            ],
            records=[
                (run_id, o, plan_id, "county", c, Decimal(0), Decimal(0), c, "B", [], False, "B", ranks[c], len(ids))
                for o, c in zip(ids, composite, strict=True)
            ],
        )
        await driver.copy_records_to_table(  # type: ignore[union-attr]
            "result_subject",
            schema_name="appraisal",
            columns=["run_id", "object_id", "subject", "weight", "earned", "marks", "score", "contribution"],
            records=[
                (run_id, o, s, Decimal("0.5"), Decimal(10), Decimal(50), Decimal(20), Decimal(10))
                for o in ids
                for s in SUBJECTS
            ],
        )
        lines = [
            {
                "run_id": run_id,
                "object_id": o,
                "indicator_code": f"L{n}",
                "subject": SUBJECTS[n % 2 == 1],
                "value": Decimal(n),
                "target": Decimal(100),
                "share": Decimal(n) / 100,
                "marks": Decimal(1),
                "earned": Decimal(n % 100) / 100,
                "missing": False,
            }
            for o in ids
            for n in range(1, leaves + 1)
        ]
        rows = object_leaves(lines)
        columns = list(rows[0])
        await driver.copy_records_to_table(  # type: ignore[union-attr]
            "result_object_leaves",
            schema_name="appraisal",
            columns=columns,
            records=[tuple(row[c] for c in columns) for row in rows],
        )
    return plan_id, run_id


async def _measure(url: str, objects: int, leaves: int) -> dict[str, Any]:
    engine = create_engine(url, pool_size=2)
    try:
        plan_id, run_id = await _setup(engine, objects, leaves)
        sessions = make_sessionmaker(engine)
        async with engine.connect() as conn:
            started = time.perf_counter()
            raw = await conn.execute(
                text(
                    "SELECT l.object_id, l.indicator_code, l.subject, l.value, l.target, l.marks, l.earned "
                    "FROM appraisal.result_leaf l WHERE l.run_id = :r ORDER BY l.object_id, l.indicator_code, l.subject"
                ),
                {"r": run_id},
            )
            digest = hashlib.sha256()
            for row in raw:
                digest.update(repr(tuple(row)).encode())
            baseline_s = time.perf_counter() - started
        outbox.use_server_max_payload(1024 * 1024)  # the embedded NATS server's default
        async with committing(sessions()) as session:
            # What POST .../publications queues (its guards run again in the job).
            job, _ = await jobs.enqueue(
                session,
                JOBS,
                kind=PUBLISH_PLAN,
                subject=str(plan_id),
                params={"mode": "publish", "run_id": str(run_id), "result_version": 1, "plan_lock_version": 1},
                created_by="bench",
            )
        worker = JobWorker(engine, sessions, JOBS, {PUBLISH_PLAN: publish_job})
        started = time.perf_counter()
        assert await worker.run_one()
        publish_s = time.perf_counter() - started
        async with sessions() as session:
            done = await jobs.get(session, JOBS, job.id)
            assert done is not None and done.status == "succeeded", done
            assert done.result is not None
            status = await session.scalar(select(Plan.status).where(Plan.id == plan_id))
            assert status == "published", status
        async with sessions() as session:
            published = await publication.published_plan(session, plan_id)
            started = time.perf_counter()
            rows, _ = await publication.league_table(session, published, peer_group=None, page=None)
            csv_bytes = sum(len(chunk.encode()) for chunk in csv_chunks(rows, sorted(SUBJECTS)))
            csv_s = time.perf_counter() - started
            started = time.perf_counter()
            xlsx_bytes = len(await asyncio.to_thread(xlsx_workbook, rows, sorted(SUBJECTS)))
            xlsx_s = time.perf_counter() - started
        return {
            "objects": objects,
            "leaves_per_object": leaves,
            "leaf_rows": objects * leaves,
            "by_reference": done.result["by_reference"],
            "publish_job_s": round(publish_s, 2),
            "baseline_select_and_hash_s": round(baseline_s, 2),
            "publish_job_vs_baseline": round(publish_s / baseline_s, 1),
            "csv_s": round(csv_s, 2),
            "csv_bytes": csv_bytes,
            "xlsx_s": round(xlsx_s, 2),
            "xlsx_bytes": xlsx_bytes,
        }
    finally:
        await engine.dispose()


def run(url: str, *, objects: int = 10_000, leaves: int = 100) -> dict[str, Any]:
    upgrade(get_service("appraisal"), url)
    return asyncio.run(_measure(url, objects, leaves))
