# ruff: noqa: E501 - long SQL statements read better unbroken
"""Data collection at scale on the embedded stack: a bulk submission of 100,000 rows (parse,
validate, stage, check, write, audit, anomaly rules: all a request does after reading the body),
again when a plan scores every row (each value checked against its leaf), beside a raw COPY of
the same rows into the same table; the anomaly rules over 1,000,000 data
points; the audit chain verified over 1,000,000 entries."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from services.appraisal_svc.collection import anomaly, service
from services.appraisal_svc.collection.schemas import DataPointSubmit
from services.appraisal_svc.db import AUDIT_LOG
from services.appraisal_svc.tabular import read_rows, validate_rows
from shared import hashchain
from shared.auth.principal import Principal, Role
from shared.db import committing, create_engine, make_sessionmaker
from shared.migrations import upgrade
from shared.stack import get_service

OBJECTS = 1000
CLERK = Principal(subject="bench-clerk", roles=frozenset({Role.department}), org_unit_id=uuid.uuid4(), org_path="/b")


async def _setup(engine: Any) -> list[uuid.UUID]:
    """One province with OBJECTS counties, each appraised as a government."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(
            text(
                "TRUNCATE appraisal.data_point, appraisal.data_flag, appraisal.audit_log, appraisal.appraisal_object, appraisal.org_unit CASCADE"
            )
        )
        root = uuid.uuid4()
        await conn.execute(
            text(
                "INSERT INTO appraisal.org_unit (id, code, name, kind, org_path, peer_group, deleted, lock_version, created_at, updated_at) VALUES (:id, 'b', 'B', 'province', '/b', 'province', false, 1, now(), now())"
            ),
            {"id": root},
        )
        ids = [uuid.uuid4() for _ in range(OBJECTS)]
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
    return ids


async def _plan_scoring_every_row(engine: Any, objects: list[uuid.UUID], rows: int, period: str) -> None:
    """Empties the submitted values; then one plan of ``period`` appraises every object and scores
    every submitted metric as a satisfaction leaf."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("TRUNCATE appraisal.data_point, appraisal.data_flag, appraisal.audit_log"))
        await conn.execute(text("TRUNCATE appraisal.plan, appraisal.cycle CASCADE"))
        cycle, plan = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            text(
                "INSERT INTO appraisal.cycle (id, kind, label, starts_on, ends_on, org_path, created_by, created_at) "
                "VALUES (:id, 'annual', :label, '2026-01-01', '2026-12-31', '/b', 'bench', now())"
            ),
            {"id": cycle, "label": period},
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan (id, name, cycle_id, framework_id, framework_hash, owner_unit_id, status, subject_weights, grade_scheme, missing_rule, score_places, objection_seconds, submission_deadline, verification_deadline, created_by, created_at, updated_at, lock_version) "
                "SELECT :id, 'bench', :cycle, gen_random_uuid(), '', u.id, 'collecting', '{}', '{}', 'zero', 2, 604800, now(), now(), 'bench', now(), now(), 1 "
                "FROM appraisal.org_unit u WHERE u.org_path = '/b'"
            ),
            {"id": plan, "cycle": cycle},
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan_object (plan_id, object_id, peer_group) SELECT :plan, o, 'county' FROM unnest(CAST(:ids AS uuid[])) o"
            ),
            {"plan": plan, "ids": objects},
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan_leaf (plan_id, indicator_code, metric, name, kind, direction, weight, method, evaluation_subjects) "
                "SELECT :plan, m, m, m, 'satisfaction', 'higher_better', 1, 'satisfaction', ARRAY['public'] "
                "FROM (SELECT 'M' || lpad(n::text, 4, '0') AS m FROM generate_series(0, :metrics) n) t"
            ),
            {"plan": plan, "metrics": rows // len(objects)},
        )
        await conn.execute(text("ANALYZE appraisal.plan_leaf"))
        await conn.execute(text("ANALYZE appraisal.plan_object"))


def _csv(objects: list[uuid.UUID], rows: int, period: str) -> bytes:
    lines = ["object_id,metric,period,value"]
    # Values in [0, 100): valid satisfaction indices, so the checked submission (1b) stores them all.
    lines += [
        f"{objects[i % len(objects)]},M{i // len(objects):04d},{period},{(i * 7919) % 100}.25" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


async def run_async(database_url: str, submit_rows: int, flag_points: int, audit_entries: int) -> dict[str, Any]:
    engine = create_engine(database_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    objects = await _setup(engine)
    body = _csv(objects, submit_rows, "2026")

    # 1. A bulk submission, as the route does it once the body is read.
    started = time.perf_counter()
    raw, first = await asyncio.to_thread(read_rows, body, "csv", max_rows=submit_rows)
    parsed = await asyncio.to_thread(validate_rows, DataPointSubmit, raw, first)
    async with sessionmaker() as session, committing(session):
        count, _, flags = await service.submit(session, principal=CLERK, rows=parsed, tolerances=anomaly.Tolerances())
    submit_s = time.perf_counter() - started
    assert count == submit_rows

    # 1b. The same submission when every row is a leaf a plan scores: each value is then checked
    # against its leaf in the staged SQL (a satisfaction index in [0, 100], docs/scoring.md).
    await _plan_scoring_every_row(engine, objects, submit_rows, "2026")
    started = time.perf_counter()
    raw, first = await asyncio.to_thread(read_rows, body, "csv", max_rows=submit_rows)
    parsed = await asyncio.to_thread(validate_rows, DataPointSubmit, raw, first)
    async with sessionmaker() as session, committing(session):
        count, _, _ = await service.submit(session, principal=CLERK, rows=parsed, tolerances=anomaly.Tolerances())
    submit_checked_s = time.perf_counter() - started
    assert count == submit_rows

    # 2. The same rows COPYed straight into the same table (after emptying it): the floor.
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("TRUNCATE appraisal.data_point, appraisal.data_flag"))
    now = dt.datetime.now(dt.UTC)
    records = [
        (uuid.uuid4(), r.object_id, r.metric, r.period, "unit", 1, True, r.value, "submitted", "bench", "/b", now, 1)
        for r in parsed
    ]
    started = time.perf_counter()
    async with engine.begin() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.copy_records_to_table(  # type: ignore[union-attr]
            "data_point",
            schema_name="appraisal",
            records=records,
            columns=[
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
        )
    copy_s = time.perf_counter() - started

    # 3. Every anomaly rule over flag_points current values (two periods, so history has work).
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("TRUNCATE appraisal.data_point, appraisal.data_flag"))
        metrics = flag_points // (2 * OBJECTS)
        await conn.execute(
            text(
                "INSERT INTO appraisal.data_point (id, object_id, metric, period, source, revision, current, value, status, submitted_by, submitted_org_path, submitted_at, lock_version) "
                "SELECT gen_random_uuid(), o, 'M' || lpad(m::text, 4, '0'), p, 'unit', 1, true, "
                "round((100 + 10 * sin(m * 7 + o_n) + CASE WHEN (m * 31 + o_n) % 997 = 0 THEN 400 ELSE 0 END)::numeric, 2), "
                "'submitted', 'bench', '/b', now(), 1 "
                "FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(o, o_n), generate_series(1, :metrics) m, unnest(ARRAY['2025', '2026']) p"
            ),
            {"ids": objects, "metrics": metrics},
        )
        await conn.execute(text("ANALYZE appraisal.data_point"))
    keys = {(f"M{m:04d}", p) for m in range(1, metrics + 1) for p in ("2025", "2026")}
    started = time.perf_counter()
    async with sessionmaker() as session, committing(session):
        raised = await anomaly.scan(session, keys, anomaly.Tolerances())
    flags_s = time.perf_counter() - started

    # 4. The audit chain verified over audit_entries entries (the submission's entry goes first).
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("TRUNCATE appraisal.audit_log"))
    batch = 50_000
    for start in range(0, audit_entries, batch):
        async with sessionmaker() as session, committing(session):
            await hashchain.append_many(
                session,
                AUDIT_LOG,
                [
                    hashchain.Entry(
                        "bench", "data_point.submitted", "data_point", str(i), {"value": str(Decimal(i) / 4)}
                    )
                    for i in range(start, min(start + batch, audit_entries))
                ],
            )
    started = time.perf_counter()
    async with engine.connect() as conn:
        verified = await hashchain.verify(conn, AUDIT_LOG)
    audit_verify_s = time.perf_counter() - started
    assert verified.valid and verified.entries == audit_entries
    await engine.dispose()
    return {
        "submit_rows": submit_rows,
        "submit_s": round(submit_s, 3),
        "submit_rows_per_s": round(submit_rows / submit_s),
        "copy_s": round(copy_s, 3),
        "copy_rows_per_s": round(submit_rows / copy_s),
        "submit_share_of_copy": round(copy_s / submit_s, 3),
        "submit_checked_s": round(submit_checked_s, 3),
        "submission_flags_raised": flags,
        "flag_points": metrics * 2 * OBJECTS,
        "flags_s": round(flags_s, 3),
        "flags_raised": raised,
        "audit_entries": audit_entries,
        "audit_verify_s": round(audit_verify_s, 3),
    }


def run(
    database_url: str, *, submit_rows: int = 100_000, flag_points: int = 1_000_000, audit_entries: int = 1_000_000
) -> dict[str, Any]:
    upgrade(get_service("appraisal"), database_url)
    return asyncio.run(run_async(database_url, submit_rows, flag_points, audit_entries))
