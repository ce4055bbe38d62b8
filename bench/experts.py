# ruff: noqa: E501 - long SQL statements read better unbroken
"""Experts, satisfaction values and monitoring at their bounds on the embedded stack, each beside a
raw COPY of the same rows into a scratch copy of the same table (indexes included), the floor:

- one request's worth of expert assignments (5,000 rows: every check in SQL, the insert, one audit
  entry per assignment), as the route does it once the body is parsed;
- survey.results.finalized with 5,000 cells through the consumer's handler, then a corrected
  analysis (version 2) superseding all 5,000 values;
- the first page (500 rows) of the monitoring report of a collecting plan of 5,000 objects x 20
  quantitative leaves (100,000 targets, 50,000 accepted values)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from contracts.survey_results import SURVEY_RESULTS_FINALIZED, SatisfactionCell, SurveyResultsFinalized
from services.appraisal_svc.expert import service as experts
from services.appraisal_svc.expert.satisfaction import on_survey_results_finalized
from services.appraisal_svc.expert.schemas import ExpertAssignmentBatch
from services.appraisal_svc.rollup import service as rollups
from shared.auth.principal import Principal, Role
from shared.db import committing, create_engine, make_sessionmaker
from shared.events import make_event
from shared.migrations import upgrade
from shared.stack import get_service

QUANTITATIVE_LEAVES = 20
OFFICE = Principal(subject="bench-office", roles=frozenset({Role.perf_office}), org_unit_id=uuid.uuid4(), org_path="/b")


async def _setup(engine: Any, objects: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A province of ``objects`` counties, each appraised, and one plan over all of them with a
    graded leaf, a satisfaction leaf and QUANTITATIVE_LEAVES target-ratio leaves."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(
            text(
                "TRUNCATE appraisal.expert_rating, appraisal.expert_assignment, appraisal.survey_cell, appraisal.data_point, appraisal.target, "
                "appraisal.plan_leaf, appraisal.plan_object, appraisal.plan, appraisal.cycle, appraisal.framework_version, "
                "appraisal.audit_log, appraisal.appraisal_object, appraisal.org_unit CASCADE"
            )
        )
        root = uuid.uuid4()
        await conn.execute(
            text(
                "INSERT INTO appraisal.org_unit (id, code, name, kind, org_path, peer_group, deleted, lock_version, created_at, updated_at) VALUES (:id, 'b', 'B', 'province', '/b', 'province', false, 1, now(), now())"
            ),
            {"id": root},
        )
        ids = [uuid.uuid4() for _ in range(objects)]
        await conn.execute(
            text(
                "INSERT INTO appraisal.org_unit (id, code, name, kind, parent_id, org_path, peer_group, deleted, lock_version, created_at, updated_at) "
                "SELECT id, 'c' || n, 'County ' || n, 'county', :root, '/b/c' || n, 'county', false, 1, now(), now() "
                "FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(id, n)"
            ),
            {"ids": ids, "root": root},
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.appraisal_object (id, kind, org_unit_id, code, name, peer_group, created_by, created_at, lock_version) "
                "SELECT id, 'government', id, code, name, 'county', 'bench', now(), 1 FROM appraisal.org_unit WHERE kind = 'county'"
            )
        )
        framework_id, cycle_id, plan_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            text(
                "INSERT INTO appraisal.framework_version (id, lineage_id, version, code, name, org_path, content_hash, snapshot, published_at, received_at) "
                "VALUES (:id, :id, 1, 'bench', 'Bench', '/b', 'x', '{}'::jsonb, now(), now())"
            ),
            {"id": framework_id},
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.cycle (id, kind, label, starts_on, ends_on, org_path, created_by, created_at) VALUES (:id, 'annual', '2026', '2026-01-01', '2026-12-31', '/b', 'bench', now())"
            ),
            {"id": cycle_id},
        )
        now = dt.datetime.now(dt.UTC)
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan (id, name, cycle_id, framework_id, framework_hash, owner_unit_id, status, subject_weights, grade_scheme, missing_rule, score_places, objection_seconds, rating_closes_at, submission_deadline, verification_deadline, created_by, created_at, updated_at, lock_version) "
                "VALUES (:id, 'Bench plan', :cycle, :fw, 'x', :root, 'collecting', CAST(:weights AS jsonb), CAST(:scheme AS jsonb), 'zero', 2, 604800, :closes, :now, :now, 'bench', :now, :now, 1)"
            ),
            {
                "id": plan_id,
                "cycle": cycle_id,
                "fw": framework_id,
                "root": root,
                "weights": json.dumps({"performance_office": "0.6", "public": "0.3", "experts": "0.1"}),
                "scheme": json.dumps({"grades": [{"grade": "A", "min_score": "90"}, {"grade": "D", "min_score": "0"}]}),
                "closes": now + dt.timedelta(days=1),
                "now": now,
            },
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan_object (plan_id, object_id, peer_group) SELECT :plan, id, 'county' FROM appraisal.appraisal_object"
            ),
            {"plan": plan_id},
        )
        leaves = [
            (
                "Q1",
                "qualitative",
                "grade",
                {"method": "grade", "scale": "ABCD", "shares": {"A": "1", "B": "0.8", "C": "0.6", "D": "0.3"}},
                "experts",
            ),
            (
                "S1",
                "satisfaction",
                "satisfaction",
                {"method": "satisfaction", "zero_index": "60", "full_index": "95"},
                "public",
            ),
        ] + [
            (
                f"E{i:02d}",
                "quantitative",
                "target_ratio",
                {"method": "target_ratio", "cap": "1.2"},
                "performance_office",
            )
            for i in range(QUANTITATIVE_LEAVES)
        ]
        for code, kind, method, scoring, subject in leaves:
            await conn.execute(
                text(
                    "INSERT INTO appraisal.plan_leaf (plan_id, indicator_code, metric, name, parent_code, kind, direction, unit, weight, method, scoring, evaluation_subjects) "
                    "VALUES (:plan, :code, :code, :code, NULL, :kind, 'higher_better', NULL, 1, :method, CAST(:scoring AS jsonb), ARRAY[CAST(:subject AS text)])"
                ),
                {
                    "plan": plan_id,
                    "code": code,
                    "kind": kind,
                    "method": method,
                    "scoring": json.dumps(scoring),
                    "subject": subject,
                },
            )
        await conn.execute(
            text(
                "INSERT INTO appraisal.target (id, plan_id, object_id, indicator_code, target, status, set_by, set_at, lock_version) "
                "SELECT gen_random_uuid(), :plan, po.object_id, l.indicator_code, 1000, 'approved', 'bench', now(), 1 "
                "FROM appraisal.plan_object po JOIN appraisal.plan_leaf l ON l.plan_id = po.plan_id AND l.kind = 'quantitative' WHERE po.plan_id = :plan"
            ),
            {"plan": plan_id},
        )
        # Half the leaves have an accepted value, from far behind to well ahead.
        await conn.execute(
            text(
                "INSERT INTO appraisal.data_point (id, object_id, metric, period, source, revision, current, value, status, submitted_by, submitted_org_path, submitted_at, lock_version) "
                "SELECT gen_random_uuid(), t.object_id, t.indicator_code, '2026', 'unit', 1, true, (abs(hashtext(t.id::text)) % 1200), 'accepted', 'bench', '/b', now(), 1 "
                "FROM appraisal.target t WHERE t.plan_id = :plan AND abs(hashtext(t.id::text)) % 2 = 0"
            ),
            {"plan": plan_id},
        )
        for table in ("data_point", "target", "plan_object"):
            await conn.execute(text(f"ANALYZE appraisal.{table}"))
    return plan_id, ids


async def _copy_floor(engine: Any, table: str, columns: list[str], records: list[tuple[Any, ...]]) -> float:
    """Seconds to COPY ``records`` into a fresh scratch copy of ``table`` (indexes and defaults included)."""
    scratch = f"bench_{table}"
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS appraisal.{scratch}"))
        await conn.execute(text(f"CREATE TABLE appraisal.{scratch} (LIKE appraisal.{table} INCLUDING ALL)"))
    started = time.perf_counter()
    async with engine.begin() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.copy_records_to_table(scratch, schema_name="appraisal", records=records, columns=columns)  # type: ignore[union-attr]
    elapsed = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE appraisal.{scratch}"))
    return elapsed


def _cells(ids: list[uuid.UUID], shift: int) -> list[SatisfactionCell]:
    cells = []
    for n, object_id in enumerate(ids):
        index = Decimal(50 + (n * 7 + shift) % 50)
        cells.append(
            SatisfactionCell(
                object_id=object_id,
                dimension="overall",
                indicator_code="S1",
                n=400,
                suppressed=n % 97 == 0,  # a few small cells
                index=None if n % 97 == 0 else index,
                ci_low=None if n % 97 == 0 else index - 1,
                ci_high=None if n % 97 == 0 else index + 1,
            )
        )
    return cells


async def run_async(database_url: str, objects: int) -> dict[str, Any]:
    engine = create_engine(database_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    plan_id, ids = await _setup(engine, objects)
    figures: dict[str, Any] = {"objects": objects}

    batch = ExpertAssignmentBatch.model_validate(
        {
            "items": [
                {
                    "expert": f"expert-{n % 50}",
                    "expert_org_path": "/x/experts",
                    "object_id": str(o),
                    "indicator_code": "Q1",
                    "subject": "experts",
                }
                for n, o in enumerate(ids)
            ]
        }
    )
    started = time.perf_counter()
    async with sessionmaker() as session, committing(session):
        made = await experts.create_assignments(session, principal=OFFICE, plan_id=plan_id, data=batch)
    figures["assignments"] = len(made)
    figures["assignments_s"] = round(time.perf_counter() - started, 3)
    now = dt.datetime.now(dt.UTC)
    figures["assignments_copy_s"] = round(
        await _copy_floor(
            engine,
            "expert_assignment",
            [
                "id",
                "plan_id",
                "expert",
                "expert_org_path",
                "object_id",
                "indicator_code",
                "subject",
                "assigned_by",
                "assigned_at",
            ],
            [
                (uuid.uuid4(), plan_id, i.expert, i.expert_org_path, i.object_id, "Q1", "experts", "bench", now)
                for i in batch.items
            ],
        ),
        3,
    )

    for version in (1, 2):
        payload = SurveyResultsFinalized(
            campaign_id=uuid.UUID(int=1),
            analysis_version=version,
            questionnaire_id=uuid.uuid4(),
            questionnaire_version=1,
            organizer_org_path="/b",
            cycle_label="2026",
            plan_id=None,
            fieldwork_start=dt.date(2026, 3, 1),
            fieldwork_end=dt.date(2026, 3, 31),
            responses_valid=1_000_000,
            responses_rejected=0,
            min_cell_size=30,
            results_hash=f"{version:064x}",
            finalized_at=now + dt.timedelta(seconds=version),
            cells=_cells(ids, version),
        )
        event = make_event(SURVEY_RESULTS_FINALIZED, payload, source="govperf/survey", subject="bench")
        started = time.perf_counter()
        async with sessionmaker() as session, committing(session):
            await on_survey_results_finalized(session, event)
        figures[f"survey_v{version}_s"] = round(time.perf_counter() - started, 3)
    async with engine.connect() as conn:
        figures["survey_values_current"] = await conn.scalar(
            text("SELECT count(*) FROM appraisal.data_point WHERE source = 'survey' AND current")
        )
    figures["survey_copy_s"] = round(
        await _copy_floor(
            engine,
            "data_point",
            [
                "id",
                "object_id",
                "metric",
                "period",
                "source",
                "revision",
                "current",
                "value",
                "status",
                "submitted_by",
                "submitted_org_path",
                "submitted_at",
                "lock_version",
            ],
            [
                (uuid.uuid4(), o, "S1", "2026", "survey", 1, True, Decimal(70), "accepted", "bench", "/b", now, 1)
                for o in ids
            ],
        ),
        3,
    )

    started = time.perf_counter()
    async with sessionmaker() as session, committing(session):
        page = await rollups.monitoring(
            session,
            principal=OFFICE,
            plan_id=plan_id,
            tolerance=Decimal("0.1"),
            as_of=dt.date(2026, 7, 2),
            limit=500,
            after=None,
        )
    figures["monitoring_cells"] = objects * QUANTITATIVE_LEAVES
    figures["monitoring_page_rows"] = len(page.items)
    figures["monitoring_page_ms"] = round((time.perf_counter() - started) * 1000, 1)
    await engine.dispose()
    return figures


def run(database_url: str, *, objects: int = 5_000) -> dict[str, Any]:
    upgrade(get_service("appraisal"), database_url)
    return asyncio.run(run_async(database_url, objects))
