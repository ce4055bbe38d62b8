"""Migration 0006 turns the leaf rows of existing runs into one row per (run, object) whose arrays
keep every line in byte order of (indicator code, subject), readable unchanged through the view
result_leaf; its downgrade gives the rows back. Migration 0007 records that the runs hashed before
it follow hash rules 1."""

import asyncio
import uuid
from decimal import Decimal

from alembic import command
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.migrations import alembic_config, upgrade
from shared.stack import get_service

APPRAISAL = get_service("appraisal")
COLUMNS = (
    "run_id, object_id, indicator_code, subject, value, target, baseline, share, marks, earned, missing, data_point_id"
)


async def scratch_database(database_url: str) -> str:
    name = f"gp_migration_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(database_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(database_url: str, name: str) -> None:
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def line(run_id, object_id, code, subject, n, missing=False):
    value = None if missing else Decimal(n) + Decimal("0.5")
    return {
        "run_id": run_id,
        "object_id": object_id,
        "indicator_code": code,
        "subject": subject,
        "value": value,
        "target": Decimal(100),
        "baseline": None,
        "share": None if missing else Decimal(1) / Decimal(3),
        "marks": Decimal(10),
        "earned": Decimal(0) if missing else Decimal("3.333333"),
        "missing": missing,
        "data_point_id": None if missing else uuid.uuid4(),
    }


async def rows(url: str) -> list[tuple]:
    """result_leaf's lines, on a new connection: a migration in between invalidates prepared statements."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text(
                    f"SELECT {COLUMNS} FROM appraisal.result_leaf "
                    'ORDER BY run_id, object_id, indicator_code COLLATE "C", subject COLLATE "C"'
                )
            )
            return [tuple(row) for row in result]
    finally:
        await engine.dispose()


async def test_existing_runs_keep_every_line_through_the_view_and_back(migrated) -> None:
    url = await scratch_database(migrated.database_url)
    engine = create_async_engine(url)
    try:
        await asyncio.to_thread(upgrade, APPRAISAL, url, "0005_scoring_speed")
        runs, objects = [uuid.uuid4(), uuid.uuid4()], [uuid.uuid4(), uuid.uuid4()]
        # Inserted out of order, with codes whose byte order differs from a case-blind order.
        lines = [
            line(run, obj, code, subject, n, missing=(n % 4 == 0))
            for run in runs
            for obj in objects
            for n, (code, subject) in enumerate(
                [("b", "office"), ("B", "public"), ("a", ""), ("B", "office"), ("Z1", "experts")]
            )
        ]
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f"INSERT INTO appraisal.result_leaf ({COLUMNS}) VALUES "
                    "(:run_id, :object_id, :indicator_code, :subject, :value, :target, :baseline, :share, :marks, "
                    ":earned, :missing, :data_point_id)"
                ),
                lines,
            )
        before = await rows(url)
        assert len(before) == 20

        await asyncio.to_thread(upgrade, APPRAISAL, url, "0006_object_leaves")
        assert await rows(url) == before
        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    text("SELECT indicator_codes, subjects FROM appraisal.result_object_leaves WHERE run_id = :r"),
                    {"r": runs[0]},
                )
            ).all()
        assert len(stored) == 2
        assert all(
            (codes, subjects) == (["B", "B", "Z1", "a", "b"], ["office", "public", "experts", "", "office"])
            for codes, subjects in stored
        )
        # ANALYZE (autovacuum's, after every run) gathers nothing from the arrays: no query filters
        # on their contents, and their element statistics cost seconds of CPU per large run.
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE appraisal.result_object_leaves"))
            analysed = (
                await conn.execute(
                    text(
                        "SELECT attname FROM pg_stats WHERE schemaname = 'appraisal' "
                        "AND tablename = 'result_object_leaves' ORDER BY attname"
                    )
                )
            ).scalars()
            assert list(analysed) == ["object_id", "run_id"]

        await asyncio.to_thread(command.downgrade, alembic_config(APPRAISAL.module, url), "0005_scoring_speed")
        assert await rows(url) == before
    finally:
        await engine.dispose()
        await drop_database(migrated.database_url, make_url(url).database)


async def test_runs_hashed_before_hash_rules_2_are_marked_as_rules_1(migrated) -> None:
    url = await scratch_database(migrated.database_url)
    engine = create_async_engine(url)
    try:
        await asyncio.to_thread(upgrade, APPRAISAL, url, "0006_object_leaves")
        hashed, queued = uuid.uuid4(), uuid.uuid4()
        async with engine.begin() as conn:
            # Runs without their plan: this test is about the runs' own columns.
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(
                text(
                    "INSERT INTO appraisal.scoring_run (id, plan_id, version, status, reason, requested_by, "
                    "requested_at, results_hash) VALUES "
                    "(:hashed, :plan, 1, 'succeeded', 'requested', 'office', now(), repeat('a', 64)), "
                    "(:queued, :plan, 2, 'queued', 'requested', 'office', now(), NULL)"
                ),
                {"hashed": hashed, "queued": queued, "plan": uuid.uuid4()},
            )
        await asyncio.to_thread(upgrade, APPRAISAL, url, "0007_hash_rules")
        async with engine.connect() as conn:
            rules = dict((await conn.execute(text("SELECT id, hash_rules FROM appraisal.scoring_run"))).all())
        assert rules == {hashed: 1, queued: None}

        await asyncio.to_thread(command.downgrade, alembic_config(APPRAISAL.module, url), "0006_object_leaves")
        async with engine.connect() as conn:
            columns = await conn.scalar(
                text(
                    "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'appraisal' "
                    "AND table_name = 'scoring_run' AND column_name = 'hash_rules'"
                )
            )
        assert columns == 0
    finally:
        await engine.dispose()
        await drop_database(migrated.database_url, make_url(url).database)
