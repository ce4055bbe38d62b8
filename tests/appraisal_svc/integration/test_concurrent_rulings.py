"""Rulings that really commit, concurrently: of several offices ruling one objection at once
exactly one wins, an upheld ruling's rescore is run by the service's own job worker, and concurrent
publications with one ETag publish once."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import CloudEvent
from shared.testing.plugin import client_for, wait_for
from tests.appraisal_svc.api.results_support import E1_VALUES
from tests.appraisal_svc.api.support import Api


class CommittingApi(Api):
    """The API helper against an app whose requests commit: what the test writes itself commits too."""

    async def receive_framework(self, content: dict[str, Any] | None = None) -> CloudEvent:
        event = await super().receive_framework(content)
        await self.db.commit()
        return event


async def run_finished(api: Api, plan_id: str, run_id: str) -> dict[str, Any]:
    async def succeeded() -> bool:
        run = await api.ok("GET", f"/plans/{plan_id}/scoring-runs/{run_id}")
        assert run["status"] != "failed", run
        return bool(run["status"] == "succeeded")

    await wait_for(succeeded, timeout=60)
    return dict(await api.ok("GET", f"/plans/{plan_id}/scoring-runs/{run_id}"))


async def test_concurrent_rulings_and_publications_have_one_winner(committed_app, auth):
    async with client_for(committed_app) as client, AsyncSession(committed_app.state.engine) as db:
        api = CommittingApi(client, auth, db)
        world = await api.world()
        plan_id = world.plan["id"]
        await api.collecting(world)
        assert (await api.transition(plan_id, "scoring", reason="verified early")).status_code == 200
        for county, value in E1_VALUES.items():
            await db.execute(
                text(
                    "INSERT INTO appraisal.data_point (id, object_id, metric, period, source, revision, current, "
                    "value, status, submitted_by, submitted_org_path, submitted_at, lock_version) VALUES "
                    "(gen_random_uuid(), :o, 'E1', '2026', 'unit', 1, true, :v, 'accepted', 'x', '/gd', now(), 1)"
                ),
                {"o": world.objects[county], "v": value},
            )
        await db.commit()
        first = await api.ok("POST", f"/plans/{plan_id}/scoring-runs", 202, json={"reason": "first"})
        await run_finished(api, plan_id, first["id"])
        for step in ("reviewed", "objection"):
            assert (await api.transition(plan_id, step)).status_code == 200
        objection = await api.ok(
            "POST",
            f"/plans/{plan_id}/objections",
            201,
            headers=api.as_("department", "/gd/sz/ft", "clerk-ft"),
            json={"object_id": world.objects["ft"], "indicator_code": "E1", "reason": "The Q4 count was not used."},
        )
        target = (await api.ok("GET", f"/plans/{plan_id}/targets", params={"object_id": world.objects["ft"]}))["items"][
            0
        ]
        url = f"/plans/{plan_id}/objections/{objection['id']}/ruling"
        upheld = {
            "decision": "upheld",
            "reason": "The target was entered in the wrong unit.",
            "correction": {"target_ids": [target["id"]], "note": "unit fixed"},
        }
        dismissed = {"decision": "dismissed", "reason": "The value was verified twice."}

        async def ruling(n: int) -> Any:
            office = api.as_("perf_office", "/gd/sz", f"office-{n}")
            return await api.call(
                "POST", url, headers={**office, "If-Match": '"1"'}, json=upheld if n % 2 else dismissed
            )

        answers = await asyncio.gather(*(ruling(n) for n in range(6)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200] + [409] * 5, [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 200).json()
        for loser in (a for a in answers if a.status_code == 409):
            assert "final" in loser.json()["detail"]
        stored = await api.ok("GET", f"/plans/{plan_id}/objections/{objection['id']}")
        assert (stored["status"], stored["ruled_by"], stored["lock_version"]) == (
            winner["status"],
            winner["ruled_by"],
            2,
        )
        runs = (await api.ok("GET", f"/plans/{plan_id}/scoring-runs"))["items"]
        if winner["status"] == "upheld":
            assert sorted(r["version"] for r in runs) == [1, 2]
            rescore = await run_finished(api, plan_id, str(winner["rescore_run_id"]))
            assert rescore["reason"] == f"objection {objection['id']} upheld"
        else:
            assert [r["version"] for r in runs] == [1]

        # Three offices publish at once with the same ETag: one publication job, one results event.
        await db.execute(
            text("UPDATE appraisal.plan SET objection_closes_at = now() - interval '1 second' WHERE id = :id"),
            {"id": plan_id},
        )
        await db.commit()
        etag = await api.plan_etag(plan_id)

        async def publish(n: int) -> Any:
            office = api.as_("perf_office", "/gd/sz", f"office-{n}")
            return await api.call("POST", f"/plans/{plan_id}/publications", headers={**office, "If-Match": etag})

        published = await asyncio.gather(*(publish(n) for n in range(3)))
        # The losers find the winner's job active (409), or already done, the plan moved on (412).
        codes = sorted(p.status_code for p in published)
        assert codes[0] == 202 and set(codes[1:]) <= {409, 412}, [p.text for p in published]
        job_id = next(p for p in published if p.status_code == 202).json()["id"]

        async def job_succeeded() -> bool:
            job = await api.ok("GET", f"/plans/{plan_id}/publications/{job_id}")
            assert job["status"] != "failed", job
            return bool(job["status"] == "succeeded")

        await wait_for(job_succeeded, timeout=60)
        assert (await api.ok("GET", f"/plans/{plan_id}"))["status"] == "published"
        events = await db.scalar(
            text(
                "SELECT count(*) FROM appraisal.outbox WHERE envelope->>'type' = 'appraisal.results.published' "
                "AND envelope->>'subject' = :id"
            ),
            {"id": plan_id},
        )
        assert events == 1
