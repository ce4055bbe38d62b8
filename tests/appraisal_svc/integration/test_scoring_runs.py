"""Scoring runs with real commits: the service's own job worker scores a requested run; concurrent
requests leave one active run; a worker killed with SIGKILL mid-run leaves its job to another
worker once its heartbeat is stale, and the run finishes exactly once. A run in parts fails clean
whichever of its connections fails: a part, or the run's own while it works beside the parts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from contracts.scoring import SatisfactionParams
from services.appraisal_svc.app import create_app, stop_jobs
from services.appraisal_svc.db import JOBS
from services.appraisal_svc.scoring import engine, service
from services.appraisal_svc.scoring.logic import Leaf, PlanRules
from services.appraisal_svc.scoring.service import SCORE_PLAN, score_job
from shared.db import committing, make_sessionmaker
from shared.jobs import JobWorker
from shared.testing.plugin import client_for, wait_for
from tests.appraisal_svc.conftest import appraisal_settings
from tests.appraisal_svc.integration.conftest import empty
from tests.appraisal_svc.integration.test_scoring_engine import (
    GRADES,
    base_world,
    every_method_plan,
    no_progress,
    write_plan,
)

D = Decimal
SCORING_TABLES = (
    "scoring_run, result, result_subject, result_object_leaves, expert_rating, expert_assignment, veto_event"
)


async def empty_all(engine: Any) -> None:
    await empty(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(f"TRUNCATE {', '.join('appraisal.' + t.strip() for t in SCORING_TABLES.split(','))} CASCADE")
        )


@pytest.fixture
async def scoring_app(migrated, dev_keys) -> AsyncIterator[Any]:
    """appraisal_svc really committing, with its job worker on (reclaiming after 2 s of silence)."""
    app = create_app(appraisal_settings(migrated, dev_keys, run_relay=False, run_consumers=False, job_stale_seconds=2))
    async with app.router.lifespan_context(app):
        await empty_all(app.state.engine)
        try:
            yield app
        finally:
            # The worker first: a TRUNCATE beside its reads can deadlock and leave rows for later tests.
            await stop_jobs(app)
            await empty_all(app.state.engine)


async def committed_plan(app: Any, objects: int = 4) -> tuple[str, str]:
    """A plan in scoring whose composite per object is its index; (plan id, owner org path)."""
    spec = {
        "leaves": [
            Leaf(
                code="L0",
                method="satisfaction",
                direction="higher_better",
                marks=D(100),
                subjects=("office",),
                rule=SatisfactionParams(zero_index=D(0), full_index=D(100)),
            )
        ],
        "objects": [
            {"peer_group": "a", "sources": {"L0": {"survey": D(60 + 10 * n)}}, "targets": {}, "ratings": {}, "veto": []}
            for n in range(objects)
        ],
        "rules": PlanRules(
            places=2,
            missing_rule="zero",
            total_points=D(100),
            bonus_cap=None,
            subject_weights={"office": D(1)},
            grades=GRADES,
            top_grade_quota=None,
        ),
    }
    async with app.state.sessionmaker() as session, committing(session):
        base = await base_world(session)
        plan_id = await write_plan(session, base, spec)
        owner_path = await session.scalar(
            text("SELECT org_path FROM appraisal.org_unit WHERE id = :u"), {"u": base["unit"]}
        )
    return str(plan_id), str(owner_path)


async def test_the_service_worker_scores_a_requested_run(scoring_app, auth):
    plan_id, owner = await committed_plan(scoring_app)
    office = auth("perf_office", org_path=owner, subject="office")
    async with client_for(scoring_app) as http:
        response = await http.post(f"/api/v1/plans/{plan_id}/scoring-runs", headers=office)
        assert response.status_code == 202, response.text
        location = response.headers["location"]

        async def finished() -> bool:
            run = (await http.get(location, headers=office)).json()
            return run["status"] == "succeeded"

        await wait_for(finished, timeout=30)
        run = (await http.get(location, headers=office)).json()
        assert run["progress"] == 1 and run["object_count"] == 4 and run["value_count"] == 4
        table = (await http.get(f"/api/v1/plans/{plan_id}/results", headers=office)).json()
        assert [row["composite"] for row in table["items"]] == ["90", "80", "70", "60"]


async def test_concurrent_requests_leave_one_active_run(scoring_app, auth):
    # No worker while the requests race, so the run stays queued: stop() alone only ends the loop after
    # its current round, and a round woken by the first request could still claim the job.
    await stop_jobs(scoring_app)
    plan_id, owner = await committed_plan(scoring_app)
    office = auth("perf_office", org_path=owner, subject="office")
    async with client_for(scoring_app) as http:
        answers = await asyncio.gather(
            *(http.post(f"/api/v1/plans/{plan_id}/scoring-runs", headers=office) for _ in range(6))
        )
    assert sorted(a.status_code for a in answers) == [202, 409, 409, 409, 409, 409]
    async with scoring_app.state.engine.connect() as conn:
        runs = (await conn.execute(text("SELECT version, status FROM appraisal.scoring_run"))).all()
        queued_jobs = await conn.scalar(text("SELECT count(*) FROM appraisal.job WHERE status = 'queued'"))
    assert [tuple(r) for r in runs] == [(1, "queued")] and queued_jobs == 1


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from services.appraisal_svc.db import JOBS
    from services.appraisal_svc.scoring.service import SCORE_PLAN, score_job
    from shared.db import create_engine, make_sessionmaker
    from shared.jobs import JobWorker

    async def main():
        engine = create_engine(sys.argv[1], pool_size=2)
        worker = JobWorker(engine, make_sessionmaker(engine), JOBS, {SCORE_PLAN: score_job}, stale_after=600)
        await worker.run_one()

    asyncio.run(main())
    """
)


async def test_a_worker_killed_mid_run_leaves_the_run_to_another_which_finishes_it_once(scoring_app, auth, migrated):
    await stop_jobs(scoring_app)
    plan_id, owner = await committed_plan(scoring_app)
    office = auth("perf_office", org_path=owner, subject="office")
    async with client_for(scoring_app) as http:
        response = await http.post(f"/api/v1/plans/{plan_id}/scoring-runs", headers=office)
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    engine = scoring_app.state.engine
    # Hold the run's row: the other process claims the job and its handler waits inside its run.
    async with engine.connect() as holder:
        lock = await holder.begin()
        await holder.execute(text("SELECT 1 FROM appraisal.scoring_run WHERE id = :r FOR UPDATE"), {"r": run_id})
        worker = subprocess.Popen([sys.executable, "-c", WORKER, migrated.database_url], env=dict(os.environ))
        try:

            async def handler_waits() -> bool:
                async with engine.connect() as conn:
                    return bool(
                        await conn.scalar(
                            text(
                                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND query LIKE '%scoring_run%FOR UPDATE%'"
                            )
                        )
                    )

            await wait_for(handler_waits, timeout=30)
            async with engine.connect() as conn:
                job = (await conn.execute(text("SELECT status, attempts FROM appraisal.job"))).one()
            assert tuple(job) == ("running", 1)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
        await lock.rollback()
    # The dead worker beats no more; once its heartbeat is stale another worker reclaims the job.
    async with engine.begin() as conn:
        await conn.execute(JOBS.update().values(heartbeat_at=text("now() - interval '1 minute'")))
    survivor = JobWorker(engine, make_sessionmaker(engine), JOBS, {SCORE_PLAN: score_job}, stale_after=2)
    assert await survivor.run_one()
    assert not await survivor.run_one()  # nothing left: the run is not scored twice
    async with engine.connect() as conn:
        job = (await conn.execute(text("SELECT status, attempts FROM appraisal.job"))).one()
        runs = (await conn.execute(text("SELECT id, version, status FROM appraisal.scoring_run"))).all()
        results = await conn.scalar(text("SELECT count(*) FROM appraisal.result WHERE run_id = :r"), {"r": run_id})
        leaves = await conn.scalar(text("SELECT count(*) FROM appraisal.result_leaf WHERE run_id = :r"), {"r": run_id})
    assert tuple(job) == ("succeeded", 2)
    assert [(str(r.id), r.version, r.status) for r in runs] == [(run_id, 1, "succeeded")]
    assert (results, leaves) == (4, 4)


async def every_method_committed(app: Any) -> uuid.UUID:
    async with app.state.sessionmaker() as session, committing(session):
        return await write_plan(session, await base_world(session), every_method_plan())


async def new_run(session: Any, plan_id: uuid.UUID) -> uuid.UUID:
    run_id = uuid.uuid4()
    await session.execute(
        text(
            "INSERT INTO appraisal.scoring_run (id, plan_id, version, status, reason, requested_by, requested_at) "
            "VALUES (:id, :p, (SELECT count(*) + 1 FROM appraisal.scoring_run WHERE plan_id = :p), 'running', "
            "'t', 't', now())"
        ),
        {"id": run_id, "p": plan_id},
    )
    return run_id


async def leftover_rows(session: Any, run_id: uuid.UUID, plan_id: uuid.UUID) -> None:
    """A leaf row (one line) and a subject row of the plan's last object, as an earlier attempt at
    the run would have left them."""
    last = "SELECT object_id FROM appraisal.plan_object WHERE plan_id = :p ORDER BY object_id DESC LIMIT 1"
    await session.execute(
        text(
            "INSERT INTO appraisal.result_object_leaves (run_id, object_id, indicator_codes, subjects, raw_values, "
            "targets, baselines, shares, marks, earned, missing, data_point_ids) "
            "SELECT :r, object_id, '{TH}', '{office}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{1}', '{1}', '{f}', "
            f"'{{NULL}}' FROM ({last}) o"
        ),
        {"r": run_id, "p": plan_id},
    )
    await session.execute(
        text(
            "INSERT INTO appraisal.result_subject (run_id, object_id, subject, weight, earned, marks, contribution) "
            f"SELECT :r, object_id, 'bogus', 1, 1, 1, 1 FROM ({last}) o"
        ),
        {"r": run_id, "p": plan_id},
    )


async def stored(conn: Any, run_id: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    """The run's rows without the run id, in a stable order."""
    out = {}
    for table, columns in (
        (
            "result_leaf",
            "object_id, indicator_code, subject, value, target, baseline, share, marks, earned, missing, data_point_id",
        ),
        ("result_subject", "object_id, subject, weight, earned, marks, score, contribution"),
        (
            "result",
            "object_id, peer_group, base, bonus, deduction, composite, grade_by_score, veto_cap, veto_codes, "
            "quota_demoted, grade, rank, peer_count",
        ),
    ):
        rows = await conn.execute(text(f"SELECT {columns} FROM appraisal.{table} WHERE run_id = :r"), {"r": run_id})
        out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def test_a_run_in_parts_writes_exactly_what_a_run_in_one_transaction_writes(scoring_app):
    """The worker scores object ranges on parallel connections; every number, both hashes and the
    ranks across the ranges equal those of the single-transaction path (which equals the reference)."""
    app_engine = scoring_app.state.engine
    plan_id = await every_method_committed(scoring_app)
    async with scoring_app.state.sessionmaker() as session:
        inputs = await engine.plan_inputs(session, plan_id)
        single_run = await new_run(session, plan_id)
        single = await engine.score(session, plan=inputs, run_id=single_run, report=no_progress)
        single_rows = await stored(session, single_run)
        await session.rollback()
    async with scoring_app.state.sessionmaker() as session, committing(session):
        parts_run = await new_run(session, plan_id)
        # Rows left by an earlier attempt at this run (a worker killed after a part committed).
        await leftover_rows(session, parts_run, plan_id)
        await session.commit()
        parts = await engine.parts_of(session, app_engine)
        in_parts = await engine.score(session, plan=inputs, run_id=parts_run, report=no_progress, parts=parts)
    assert in_parts.timings["parts"] == engine.PARTS
    assert (in_parts.results_hash, in_parts.inputs_hash) == (single.results_hash, single.inputs_hash)
    assert (in_parts.object_count, in_parts.value_count) == (single.object_count, single.value_count)
    async with app_engine.connect() as conn:
        assert await stored(conn, parts_run) == single_rows
        ranges = await conn.scalar(
            text("SELECT count(DISTINCT peer_group) FROM appraisal.result WHERE run_id = :r"), {"r": parts_run}
        )
    assert single_rows["result_leaf"] and ranges >= 1


async def waiting_on_lock(engine_: Any, query_like: str) -> int | None:
    """The pid of a backend waiting on a lock in a statement like ``query_like``, or None."""
    async with engine_.connect() as conn:
        return await conn.scalar(
            text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :q"), {"q": query_like}
        )


async def rows_left(engine_: Any, run_id: uuid.UUID) -> list[int]:
    async with engine_.connect() as conn:
        return [
            await conn.scalar(text(f"SELECT count(*) FROM appraisal.{table} WHERE run_id = :r"), {"r": run_id})
            for table in ("result_leaf", "result_subject", "result")
        ]


# While its parts score, a run's own transaction ranks every object and spells the input lines of
# the hash (INPUT_LINES reads veto_event, which no part reads): a lock on veto_event holds it there.
BESIDE_PARTS = "%INSERT INTO sc_input_lines%"


async def run_with_rows_of_an_earlier_attempt(app: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """(plan, run): a committed run of the every-method plan with ``leftover_rows``."""
    plan_id = await every_method_committed(app)
    async with app.state.sessionmaker() as session, committing(session):
        run_id = await new_run(session, plan_id)
        await leftover_rows(session, run_id, plan_id)
    return plan_id, run_id


async def hold_rows_of_the_earlier_attempt(holder: Any, run_id: uuid.UUID) -> None:
    """The part that takes the last range replaces those rows first: it blocks until ``holder`` ends."""
    await holder.begin()
    await holder.execute(
        text("SELECT 1 FROM appraisal.result_object_leaves WHERE run_id = :r FOR UPDATE"), {"r": run_id}
    )


# The part replacing the held rows, blocked.
BLOCKED_PART = "DELETE FROM appraisal.result_object_leaves%"


async def cancel_waiting(engine_: Any, query_like: str) -> None:
    """Cancel the backend waiting on a lock in a statement like ``query_like``, as an operator's
    pg_cancel_backend, a statement timeout or a lost connection would end it."""
    async with engine_.connect() as conn:
        await conn.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": await waiting_on_lock(engine_, query_like)})


async def let_go(holder: Any, scoring: asyncio.Task[Any]) -> None:
    """End ``holder``'s transaction, then wait for the run: a test failing while the run waits on the
    holder's locks must not hang closing the run's session (the run's statement would wait forever)."""
    await holder.rollback()
    await asyncio.wait([scoring], timeout=60)


async def test_a_failed_part_fails_the_run_and_leaves_no_rows_of_the_other_part(scoring_app):
    app_engine = scoring_app.state.engine
    _, run_id = await run_with_rows_of_an_earlier_attempt(scoring_app)
    # The part blocked on that row is cancelled, as an operator's pg_cancel_backend or a lost
    # connection would end it; the other part scores every other range and commits.
    async with app_engine.connect() as holder:
        await hold_rows_of_the_earlier_attempt(holder, run_id)
        async with scoring_app.state.sessionmaker() as session:
            scoring = asyncio.create_task(
                service.run_scoring(session, run_id=run_id, report=no_progress, parts_engine=app_engine)
            )

            async def other_part_committed() -> bool:
                async with app_engine.connect() as conn:
                    count = await conn.scalar(
                        text("SELECT count(*) FROM appraisal.result_leaf WHERE run_id = :r"), {"r": run_id}
                    )
                return bool(count and count > 1)

            try:
                await wait_for(lambda: waiting_on_lock(app_engine, BLOCKED_PART), timeout=30)
                await wait_for(other_part_committed, timeout=30)
                await cancel_waiting(app_engine, BLOCKED_PART)
            finally:
                await let_go(holder, scoring)  # the failed run's clean-up deletes that row too
            run = await scoring
            await session.commit()
    assert run.status == "failed" and run.error == service.FAILED
    assert await rows_left(app_engine, run_id) == [0, 0, 0]


async def test_a_part_failing_while_the_run_works_beside_the_parts_waits_for_it_then_fails_clean(scoring_app):
    """A failed part cancels the other parts but not the statement on the run's own connection: the
    run's clean-up uses that connection, so the run waits for the statement before it fails."""
    app_engine = scoring_app.state.engine
    _, run_id = await run_with_rows_of_an_earlier_attempt(scoring_app)
    async with app_engine.connect() as holder:
        await hold_rows_of_the_earlier_attempt(holder, run_id)
        await holder.execute(text("LOCK TABLE appraisal.veto_event IN ACCESS EXCLUSIVE MODE"))
        async with scoring_app.state.sessionmaker() as session:
            scoring = asyncio.create_task(
                service.run_scoring(session, run_id=run_id, report=no_progress, parts_engine=app_engine)
            )
            try:
                await wait_for(lambda: waiting_on_lock(app_engine, BESIDE_PARTS), timeout=30)
                await wait_for(lambda: waiting_on_lock(app_engine, BLOCKED_PART), timeout=30)
                await cancel_waiting(app_engine, BLOCKED_PART)
                await asyncio.sleep(1)
                assert not scoring.done()  # the run's own statement still waits for veto_event
                assert await waiting_on_lock(app_engine, BESIDE_PARTS) is not None
            finally:
                await let_go(holder, scoring)
            run = await asyncio.wait_for(scoring, timeout=30)
            await session.commit()
    assert run.status == "failed" and run.error == service.FAILED
    assert await rows_left(app_engine, run_id) == [0, 0, 0]


async def test_a_failure_beside_the_parts_fails_the_run_after_they_committed_and_leaves_no_rows(scoring_app):
    app_engine = scoring_app.state.engine
    plan_id = await every_method_committed(scoring_app)
    async with scoring_app.state.sessionmaker() as session, committing(session):
        run_id = await new_run(session, plan_id)
    async with app_engine.connect() as holder:
        await holder.begin()
        await holder.execute(text("LOCK TABLE appraisal.veto_event IN ACCESS EXCLUSIVE MODE"))
        async with scoring_app.state.sessionmaker() as session:
            scoring = asyncio.create_task(
                service.run_scoring(session, run_id=run_id, report=no_progress, parts_engine=app_engine)
            )

            async def both_parts_committed() -> bool:
                async with app_engine.connect() as conn:
                    objects = await conn.scalar(
                        text("SELECT count(*) FROM appraisal.result_object_leaves WHERE run_id = :r"), {"r": run_id}
                    )
                    return objects == await conn.scalar(
                        text("SELECT count(*) FROM appraisal.plan_object WHERE plan_id = :p"), {"p": plan_id}
                    )

            try:
                await wait_for(lambda: waiting_on_lock(app_engine, BESIDE_PARTS), timeout=30)
                await wait_for(both_parts_committed, timeout=30)
                await cancel_waiting(app_engine, BESIDE_PARTS)
                run = await asyncio.wait_for(scoring, timeout=30)
            finally:
                await let_go(holder, scoring)
            await session.commit()
    assert run.status == "failed" and run.error == service.FAILED
    assert await rows_left(app_engine, run_id) == [0, 0, 0]


async def test_a_run_whose_job_was_given_up_frees_the_plan_and_loses_its_partial_rows(scoring_app, auth):
    await stop_jobs(scoring_app)
    plan_id, owner = await committed_plan(scoring_app)
    office = auth("perf_office", org_path=owner, subject="office")
    async with client_for(scoring_app) as http:
        first = await http.post(f"/api/v1/plans/{plan_id}/scoring-runs", headers=office)
        assert first.status_code == 202, first.text
        run_id = uuid.UUID(first.json()["id"])
        # The worker crashed repeatedly after a part committed, and gave the job up.
        async with scoring_app.state.sessionmaker() as session, committing(session):
            await leftover_rows(session, run_id, uuid.UUID(plan_id))
            await session.execute(JOBS.update().values(status="failed"))
        blocked = await http.get(f"/api/v1/plans/{plan_id}/scoring-runs/{run_id}", headers=office)
        assert blocked.json()["status"] == "failed"
        second = await http.post(f"/api/v1/plans/{plan_id}/scoring-runs", headers=office)
    assert second.status_code == 202, second.text
    assert second.json()["version"] == 2
    async with scoring_app.state.engine.connect() as conn:
        run = (
            await conn.execute(text("SELECT status, error FROM appraisal.scoring_run WHERE id = :r"), {"r": run_id})
        ).one()
        left = [
            await conn.scalar(text(f"SELECT count(*) FROM appraisal.{table} WHERE run_id = :r"), {"r": run_id})
            for table in ("result_leaf", "result_subject")
        ]
    assert tuple(run) == ("failed", service.ABANDONED) and left == [0, 0]
