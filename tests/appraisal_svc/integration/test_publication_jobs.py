"""Publication jobs with real commits: the service's worker publishes a requested plan; a worker
killed with SIGKILL mid-publication leaves the job to another, which publishes once (one results
event); the plan reaches ``published`` only with its event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

from sqlalchemy import text

from services.appraisal_svc.app import stop_jobs
from services.appraisal_svc.db import JOBS
from services.appraisal_svc.publication.service import PUBLISH_PLAN, publish_job
from shared.db import make_sessionmaker
from shared.jobs import JobWorker
from shared.testing.plugin import client_for, wait_for
from tests.appraisal_svc.integration.test_scoring_runs import committed_plan, scoring_app  # noqa: F401 - fixture

RESULTS_EVENTS = (
    "SELECT count(*) FROM appraisal.outbox WHERE envelope->>'type' = 'appraisal.results.published' "
    "AND envelope->>'subject' = :p"
)

JOB_STATE = text("SELECT status, attempts FROM appraisal.job WHERE id = :j")


async def in_closed_objection_period(app: Any, http: Any, auth: Any) -> tuple[str, dict[str, str]]:
    """A committed plan scored by the service's worker, reviewed, its objection period over."""
    plan_id, owner = await committed_plan(app)
    office = auth("perf_office", org_path=owner, subject="office")
    run = await http.post(f"/api/v1/plans/{plan_id}/scoring-runs", headers=office)
    assert run.status_code == 202, run.text

    async def scored() -> bool:
        return bool((await http.get(run.headers["location"], headers=office)).json()["status"] == "succeeded")

    await wait_for(scored, timeout=60)
    for step in ("reviewed", "objection"):
        etag = (await http.get(f"/api/v1/plans/{plan_id}", headers=office)).headers["etag"]
        moved = await http.post(
            f"/api/v1/plans/{plan_id}/transitions", headers={**office, "If-Match": etag}, json={"to": step}
        )
        assert moved.status_code == 200, moved.text
    async with app.state.engine.begin() as conn:
        await conn.execute(
            # (and the framework hash the contract needs: the engine's test world writes a placeholder)
            text(
                "UPDATE appraisal.plan SET objection_closes_at = now() - interval '1 second', "
                "framework_hash = repeat('a', 64) WHERE id = :p"
            ),
            {"p": plan_id},
        )
    return plan_id, office


async def request(http: Any, plan_id: str, office: dict[str, str]) -> Any:
    etag = (await http.get(f"/api/v1/plans/{plan_id}", headers=office)).headers["etag"]
    response = await http.post(f"/api/v1/plans/{plan_id}/publications", headers={**office, "If-Match": etag})
    assert response.status_code == 202, response.text
    return response


async def test_the_service_worker_publishes_a_requested_plan(scoring_app, auth):  # noqa: F811
    async with client_for(scoring_app) as http:
        plan_id, office = await in_closed_objection_period(scoring_app, http, auth)
        location = (await request(http, plan_id, office)).headers["location"]

        async def published() -> bool:
            job = (await http.get(location, headers=office)).json()
            assert job["status"] != "failed", job
            return bool(job["status"] == "succeeded")

        await wait_for(published, timeout=60)
        job = (await http.get(location, headers=office)).json()
        plan = (await http.get(f"/api/v1/plans/{plan_id}", headers=office)).json()
        public = await http.get(f"/public/plans/{plan_id}/results")
    assert plan["status"] == "published" and plan["published_run_id"] == job["run_id"]
    assert public.status_code == 200 and len(public.json()["items"]) == 4
    async with scoring_app.state.engine.connect() as conn:
        assert await conn.scalar(text(RESULTS_EVENTS), {"p": plan_id}) == 1


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from services.appraisal_svc.db import JOBS
    from services.appraisal_svc.publication.service import PUBLISH_PLAN, publish_job
    from shared.db import create_engine, make_sessionmaker
    from shared.jobs import JobWorker

    async def main():
        engine = create_engine(sys.argv[1], pool_size=2)
        worker = JobWorker(engine, make_sessionmaker(engine), JOBS, {PUBLISH_PLAN: publish_job}, stale_after=600)
        await worker.run_one()

    asyncio.run(main())
    """
)


async def test_a_worker_killed_mid_publication_leaves_it_to_another_which_publishes_once(
    scoring_app,  # noqa: F811
    auth,
    migrated,
):
    async with client_for(scoring_app) as http:
        plan_id, office = await in_closed_objection_period(scoring_app, http, auth)
        await stop_jobs(scoring_app)
        job_id = (await request(http, plan_id, office)).json()["id"]
    engine = scoring_app.state.engine
    # Hold the plan's row: the other process claims the job and its handler waits inside it.
    async with engine.connect() as holder:
        lock = await holder.begin()
        await holder.execute(text("SELECT 1 FROM appraisal.plan WHERE id = :p FOR UPDATE"), {"p": plan_id})
        worker = subprocess.Popen([sys.executable, "-c", WORKER, migrated.database_url], env=dict(os.environ))
        try:

            async def handler_waits() -> bool:
                async with engine.connect() as conn:
                    return bool(
                        await conn.scalar(
                            text(
                                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND query LIKE '%FROM appraisal.plan%FOR UPDATE%' AND pid <> pg_backend_pid()"
                            )
                        )
                    )

            await wait_for(handler_waits, timeout=30)
            async with engine.connect() as conn:
                job = (
                    await conn.execute(text("SELECT status, attempts FROM appraisal.job WHERE id = :j"), {"j": job_id})
                ).one()
            assert tuple(job) == ("running", 1)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
        await lock.rollback()
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT status FROM appraisal.plan WHERE id = :p"), {"p": plan_id}) == "objection"
        assert await conn.scalar(text(RESULTS_EVENTS), {"p": plan_id}) == 0
    # The dead worker beats no more; once its heartbeat is stale another worker reclaims the job.
    # (Stale for the survivor's 2 s, not for the 60 s of the session's own app, whose worker also runs.)
    async with engine.begin() as conn:
        await conn.execute(JOBS.update().values(heartbeat_at=text("now() - interval '5 seconds'")))
    survivor = JobWorker(engine, make_sessionmaker(engine), JOBS, {PUBLISH_PLAN: publish_job}, stale_after=2)
    assert await survivor.run_one()
    assert not await survivor.run_one()  # nothing left: the plan is not published twice
    async with engine.connect() as conn:
        job = (
            await conn.execute(text("SELECT status, attempts FROM appraisal.job WHERE id = :j"), {"j": job_id})
        ).one()
        status = await conn.scalar(text("SELECT status FROM appraisal.plan WHERE id = :p"), {"p": plan_id})
        events = await conn.scalar(text(RESULTS_EVENTS), {"p": plan_id})
        audit = await conn.scalar(
            text(
                "SELECT count(*) FROM appraisal.audit_log "
                "WHERE action = 'plan.transitioned' AND payload::jsonb->>'to' = 'published'"
            )
        )
    assert tuple(job) == ("succeeded", 2)
    assert (status, events, audit) == ("published", 1, 1)
