# ruff: noqa: E501 - long SQL statements read better unbroken
"""Scoring at scale on the embedded stack: a plan of 10,000 objects x 100 value leaves (every
method: target ratio both ways, linear from a floor and from the baseline, bands both ways and
target band, rank, satisfaction, bonus, deduction) plus two expert-rated leaves and a veto leaf,
with 1,000,000 accepted values and their targets loaded by COPY. One scoring run is timed (load,
score, roll up, rank, persist, hash: what the job does), and in the same process a raw COPY of the
run's 1,030,000 leaf lines (the view result_leaf) into a scratch table with a row per line and the
(run, object) index, as result_leaf was stored before runs wrote a row per object, is the floor."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from services.appraisal_svc.scoring import service
from shared.db import committing, create_engine, make_sessionmaker
from shared.ids import new_id
from shared.migrations import upgrade
from shared.stack import get_service

PEER_GROUPS = 10

# (method, direction, scoring rule, count): 100 value leaves.
LEAF_KINDS: list[tuple[str, str, dict[str, Any], int]] = [
    ("target_ratio", "higher_better", {"method": "target_ratio", "cap": "1.2"}, 20),
    ("target_ratio", "lower_better", {"method": "target_ratio", "cap": "1", "zero_point": "2000"}, 10),
    ("linear", "higher_better", {"method": "linear", "floor": "100", "floor_from": "value", "cap": "1"}, 10),
    ("linear", "lower_better", {"method": "linear", "floor_from": "baseline", "cap": "1.5"}, 10),
    (
        "bands",
        "higher_better",
        {
            "method": "bands",
            "bands": [{"threshold": str(t), "share": str(s)} for t, s in ((200, "0.3"), (500, "0.6"), (800, "1"))],
        },
        8,
    ),
    (
        "bands",
        "lower_better",
        {
            "method": "bands",
            "bands": [{"threshold": str(t), "share": str(s)} for t, s in ((200, "1"), (500, "0.6"), (800, "0.3"))],
        },
        6,
    ),
    (
        "bands",
        "target_band",
        {
            "method": "bands",
            "bands": [{"threshold": str(t), "share": str(s)} for t, s in ((200, "0.5"), (450, "1"), (700, "0.4"))],
        },
        6,
    ),
    ("rank", "higher_better", {"method": "rank", "floor_share": "0.6"}, 5),
    ("rank", "lower_better", {"method": "rank", "floor_share": "0.5"}, 5),
    ("satisfaction", "higher_better", {"method": "satisfaction", "zero_index": "60", "full_index": "95"}, 10),
    ("bonus", "higher_better", {"method": "bonus", "per_item": "0.5", "cap": "2"}, 5),
    ("deduction", "lower_better", {"method": "deduction", "per_item": "1", "cap": "3"}, 5),
]
GRADE_RULE = {
    "method": "grade",
    "scale": "ABCD",
    "shares": {"A": "1", "B": "0.8", "C": "0.6", "D": "0.3"},
    "trim_share": "0.2",
    "min_raters": 3,
}
VETO_RULE = {"method": "veto", "events": ["major_accident", "fraud"], "cap_grade": "C"}


def _leaves() -> list[dict[str, Any]]:
    leaves = []
    n = 0
    for method, direction, rule, count in LEAF_KINDS:
        for _ in range(count):
            n += 1
            scored = method not in ("bonus", "deduction")
            leaves.append(
                {
                    "code": f"L{n:03d}",
                    "method": method,
                    "direction": direction,
                    "scoring": rule,
                    "weight": Decimal(1) if scored else Decimal(0),
                    "subjects": ["office"] if method != "satisfaction" else ["public"],
                }
            )
    for g in (1, 2):
        leaves.append(
            {
                "code": f"G{g}",
                "method": "grade",
                "direction": "higher_better",
                "scoring": GRADE_RULE,
                "weight": Decimal(5),
                "subjects": ["experts"],
            }
        )
    leaves.append(
        {
            "code": "V1",
            "method": "veto",
            "direction": "higher_better",
            "scoring": VETO_RULE,
            "weight": Decimal(0),
            "subjects": [],
        }
    )
    return leaves


async def _setup(engine: Any, objects: int) -> tuple[uuid.UUID, list[uuid.UUID], int]:
    """Org units, objects, framework, cycle and plan by SQL; values and targets by COPY."""
    leaves = _leaves()
    plan_id, cycle_id, framework_id, root = new_id(), new_id(), uuid.uuid4(), new_id()
    ids = [new_id() for _ in range(objects)]
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(
            text(
                "TRUNCATE appraisal.scoring_run, appraisal.result, appraisal.result_subject, appraisal.result_object_leaves, appraisal.job, appraisal.expert_rating, appraisal.expert_assignment, appraisal.veto_event, appraisal.data_point, appraisal.target, appraisal.plan_object, appraisal.plan_leaf, appraisal.plan, appraisal.cycle, appraisal.framework_version, appraisal.appraisal_object, appraisal.org_unit, appraisal.audit_log CASCADE"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.org_unit (id, code, name, kind, org_path, peer_group, deleted, lock_version, created_at, updated_at) VALUES (:id, 'b', 'B', 'province', '/b', 'province', false, 1, now(), now())"
            ),
            {"id": root},
        )
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
        snapshot = {"code": "bench", "name": "Bench", "total_points": "100", "policy": {}, "indicators": []}
        await conn.execute(
            text(
                "INSERT INTO appraisal.framework_version (id, lineage_id, version, code, name, org_path, content_hash, snapshot, published_at, received_at) VALUES (:id, :id, 1, 'bench', 'Bench', '/b', 'x', CAST(:snapshot AS jsonb), now(), now())"
            ),
            {"id": framework_id, "snapshot": json.dumps(snapshot)},
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.cycle (id, kind, label, starts_on, ends_on, org_path, created_by, created_at) VALUES (:id, 'annual', '2026', '2026-01-01', '2026-12-31', '/b', 'bench', now())"
            ),
            {"id": cycle_id},
        )
        scheme = {
            "grades": [{"grade": g, "min_score": m} for g, m in (("A", "90"), ("B", "75"), ("C", "60"), ("D", "0"))],
            "top_grade_quota": "0.2",
        }
        now = dt.datetime.now(dt.UTC)
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan (id, name, cycle_id, framework_id, framework_hash, owner_unit_id, status, subject_weights, grade_scheme, missing_rule, score_places, objection_seconds, submission_deadline, verification_deadline, created_by, created_at, updated_at, lock_version) "
                "VALUES (:id, 'Bench plan', :cycle, :fw, 'x', :root, 'scoring', CAST(:weights AS jsonb), CAST(:scheme AS jsonb), 'renormalize', 2, 604800, :now, :now, 'bench', :now, :now, 1)"
            ),
            {
                "id": plan_id,
                "cycle": cycle_id,
                "fw": framework_id,
                "root": root,
                "now": now,
                "weights": json.dumps({"office": "0.7", "public": "0.2", "experts": "0.1"}),
                "scheme": json.dumps(scheme),
            },
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan_object (plan_id, object_id, peer_group) SELECT :plan, id, 'g' || (n % :groups) FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(id, n)"
            ),
            {"plan": plan_id, "ids": ids, "groups": PEER_GROUPS},
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.plan_leaf (plan_id, indicator_code, metric, name, parent_code, kind, direction, unit, weight, method, scoring, evaluation_subjects) "
                "SELECT :plan, l ->> 'code', l ->> 'code', l ->> 'code', NULL, 'quantitative', l ->> 'direction', NULL, (l ->> 'weight')::numeric, l ->> 'method', l -> 'scoring', ARRAY(SELECT jsonb_array_elements_text(l -> 'subjects')) "
                "FROM jsonb_array_elements(CAST(:leaves AS jsonb)) l"
            ),
            {"plan": plan_id, "leaves": json.dumps(leaves, default=str)},
        )
        driver = (await conn.get_raw_connection()).driver_connection
        value_leaves = [leaf for leaf in leaves if leaf["method"] not in ("grade", "veto")]
        values, targets = [], []
        for o_n, obj in enumerate(ids):
            for l_n, leaf in enumerate(value_leaves):
                spread = (o_n * 7919 + l_n * 104729) % 1000
                method, direction = leaf["method"], leaf["direction"]
                if method == "satisfaction":
                    value = Decimal(50 + spread % 50) + Decimal("0.25")
                elif method in ("bonus", "deduction"):
                    value = Decimal(spread % 5)
                else:
                    value = Decimal(spread) + Decimal("0.5")
                source = "survey" if method == "satisfaction" else "unit"
                values.append(
                    (new_id(), obj, leaf["code"], "2026", source, 1, True, value, "accepted", "bench", "/b", now, 1)
                )
                if (o_n + l_n) % 97 == 0:  # about 1% also have an authoritative value, which wins
                    values.append(
                        (
                            new_id(),
                            obj,
                            leaf["code"],
                            "2026",
                            "authoritative",
                            1,
                            True,
                            value + 1,
                            "accepted",
                            "bench",
                            "/b",
                            now,
                            1,
                        )
                    )
                if method == "target_ratio":
                    targets.append(
                        (
                            new_id(),
                            plan_id,
                            obj,
                            leaf["code"],
                            None,
                            Decimal(400 + spread % 400),
                            "approved",
                            "bench",
                            now,
                            1,
                        )
                    )
                elif method == "linear":
                    target = Decimal(900) if direction == "higher_better" else Decimal(100)
                    baseline = Decimal(950) if direction == "lower_better" else None
                    targets.append(
                        (new_id(), plan_id, obj, leaf["code"], baseline, target, "approved", "bench", now, 1)
                    )
        await driver.copy_records_to_table(
            "data_point",
            schema_name="appraisal",
            records=values,
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
        await driver.copy_records_to_table(
            "target",
            schema_name="appraisal",
            records=targets,
            columns=[
                "id",
                "plan_id",
                "object_id",
                "indicator_code",
                "baseline",
                "target",
                "status",
                "set_by",
                "set_at",
                "lock_version",
            ],
        )
        # Three experts rate both qualitative leaves of every object; a few objects have a veto event.
        assignments, ratings = [], []
        for o_n, obj in enumerate(ids):
            for g in ("G1", "G2"):
                for e in range(3):
                    a = new_id()
                    assignments.append((a, plan_id, f"expert-{e}", "/x", obj, g, "experts", "bench", now))
                    ratings.append((a, plan_id, obj, g, "experts", "ABCD"[(o_n + e) % 4], now))
        await driver.copy_records_to_table(
            "expert_assignment",
            schema_name="appraisal",
            records=assignments,
            columns=[
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
        )
        await driver.copy_records_to_table(
            "expert_rating",
            schema_name="appraisal",
            records=ratings,
            columns=["assignment_id", "plan_id", "object_id", "indicator_code", "subject", "grade", "rated_at"],
        )
        await conn.execute(
            text(
                "INSERT INTO appraisal.veto_event (id, plan_id, object_id, code, description, recorded_by, recorded_at) SELECT gen_random_uuid(), :plan, id, 'major_accident', 'bench', 'bench', now() FROM unnest(CAST(:ids AS uuid[])) AS t(id)"
            ),
            {"plan": plan_id, "ids": ids[::500]},
        )
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("data_point", "target", "expert_rating", "plan_object", "plan_leaf"):
            await conn.execute(text(f"VACUUM ANALYZE appraisal.{table}"))
    return plan_id, ids, len(values)


COPY_TABLE = """
CREATE TABLE appraisal.bench_result_leaf_copy (
    run_id uuid NOT NULL, object_id uuid NOT NULL, indicator_code text NOT NULL, subject text NOT NULL,
    value numeric(24, 6), target numeric(24, 6), baseline numeric(24, 6), share numeric(60, 40),
    marks numeric(24, 6) NOT NULL, earned numeric(24, 6) NOT NULL, missing boolean NOT NULL, data_point_id uuid
)
"""


# Numeric divisions at the engine's precision: 0.22 s on the reference machine at 06:26 UTC
# 2026-11-29, when a run took 11.7 s.
MACHINE_CHECK = "SELECT sum((i::numeric(60, 40) * 7) / 3) FROM generate_series(1, 300000) AS s(i)"


async def run_async(database_url: str, objects: int) -> dict[str, Any]:
    engine = create_engine(database_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    plan_id, _, values = await _setup(engine, objects)

    async def no_progress(_: float) -> None:
        return None

    # 0. The machine's speed right now: this VM's speed drifts by up to 2x within minutes, so the
    # same fixed piece of numeric work, timed just before the run, says which phase a figure is from.
    async with engine.connect() as conn:
        started = time.perf_counter()
        await conn.execute(text(MACHINE_CHECK))
        machine_check_s = time.perf_counter() - started

    # 1. One scoring run as the job does it: request, then score, roll up, rank, persist, hash.
    async with sessionmaker() as session, committing(session):
        from services.appraisal_svc.plan.models import Plan

        plan = await session.get(Plan, plan_id)
        assert plan is not None
        run = await service.enqueue_run(session, plan, reason="bench", actor="bench")
    started = time.perf_counter()
    async with sessionmaker() as session, committing(session):
        # As the job worker runs it: its session owns the transaction, the leaf pass runs in parts.
        scored = await service.run_scoring(session, run_id=run.id, report=no_progress, parts_engine=engine)
    scoring_s = time.perf_counter() - started
    assert scored.status == "succeeded", scored.error

    # 2. The run's leaf lines (the view result_leaf) COPYed raw into a scratch table, a row per line: the floor.
    async with engine.begin() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        records = await driver.fetch("SELECT * FROM appraisal.result_leaf WHERE run_id = $1", scored.id)
        columns = list(records[0].keys())
        rows = [tuple(r) for r in records]
        await conn.execute(text("DROP TABLE IF EXISTS appraisal.bench_result_leaf_copy"))
        # A row per leaf line, as result_leaf was stored before runs were written a row per object.
        await conn.execute(text(COPY_TABLE))
        await conn.execute(text("CREATE INDEX ON appraisal.bench_result_leaf_copy (run_id, object_id)"))
    started = time.perf_counter()
    async with engine.begin() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.copy_records_to_table(
            "bench_result_leaf_copy", schema_name="appraisal", records=rows, columns=columns
        )
    copy_s = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE appraisal.bench_result_leaf_copy"))
    await engine.dispose()
    return {
        "objects": objects,
        "leaves": len(_leaves()),
        "values": values,
        "result_leaf_rows": len(rows),
        "scoring_s": round(scoring_s, 3),
        "phases_s": scored.timings,
        "copy_s": round(copy_s, 3),
        "copy_ratio": round(copy_s / scoring_s, 3),
        "machine_check_s": round(machine_check_s, 3),
        "results_hash": scored.results_hash,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def run(database_url: str, *, objects: int = 10_000) -> dict[str, Any]:
    upgrade(get_service("appraisal"), database_url)
    return asyncio.run(run_async(database_url, objects))
