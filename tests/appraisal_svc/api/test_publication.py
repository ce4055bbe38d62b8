"""Review, objection period and publication through the API: the life-cycle guards, objections
filed by the appraised department, the office's rulings, and the results event."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from contracts.appraisal_results import ObjectResult, ResultsPublished, objects_digest
from contracts.scoring import HASH_RULES
from services.appraisal_svc.db import JOBS
from services.appraisal_svc.scoring.models import ScoringRun
from services.feedback_svc.case.intake import apply_results_published
from services.feedback_svc.case.models import PlanResult
from shared import jobs
from shared.events import CloudEvent
from shared.messaging import outbox
from tests.appraisal_svc.api.results_support import (
    E1_VALUES,
    close_objection_period,
    default_composites,
    finish_publication,
    finish_run,
    insert_run,
    publish,
    publish_now,
    published_events,
    request_publication,
    to_objection,
    to_scoring,
)
from tests.appraisal_svc.api.support import Api, World, assert_problem
from tests.appraisal_svc.api.test_scoring import score_now


def clerk(api: Api, county: str) -> dict[str, str]:
    return api.as_("department", f"/gd/sz/{county}", f"clerk-{county}")


async def audit_payloads(api: Api, action: str) -> list[dict[str, Any]]:
    rows = await api.db.execute(
        text("SELECT payload FROM appraisal.audit_log WHERE action = :a ORDER BY seq"), {"a": action}
    )
    return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows.all()]


async def file(api: Api, world: World, county: str = "ft", **fields: Any) -> Any:
    body = {"object_id": world.objects[county], "reason": "The verified Q4 job count was not used.", **fields}
    return await api.call("POST", f"/plans/{world.plan['id']}/objections", headers=clerk(api, county), json=body)


async def request_run(api: Api, plan_id: str) -> str:
    response = await api.call("POST", f"/plans/{plan_id}/scoring-runs", json={"reason": "rescore"})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def rule(api: Api, world: World, objection: dict[str, Any], headers: dict[str, str] | None = None, **body: Any):
    return await api.call(
        "POST",
        f"/plans/{world.plan['id']}/objections/{objection['id']}/ruling",
        headers={**(headers or api.office), "If-Match": f'"{objection["lock_version"]}"'},
        json=body,
    )


# --- life-cycle guards ----------------------------------------------------------------------------


async def test_state_changes_need_the_current_etag(api: Api, world: World):
    plan_id = world.plan["id"]
    url = f"/plans/{plan_id}/transitions"
    blind = await api.call("POST", url, json={"to": "targets_open"})
    assert_problem(blind, 428, "If-Match")
    stale = await api.call("POST", url, json={"to": "targets_open"}, headers={**api.office, "If-Match": '"9"'})
    assert_problem(stale, 412)
    assert (await api.ok("GET", f"/plans/{plan_id}"))["status"] == "draft"


async def test_scoring_before_the_verification_deadline_needs_a_stated_reason(api: Api, world: World):
    await api.collecting(world)
    plan_id = world.plan["id"]
    body = assert_problem(await api.transition(plan_id, "scoring"), 409, "reason")
    assert "verification" in body["detail"]
    assert (await api.transition(plan_id, "scoring", reason="every value verified a week early")).status_code == 200
    entry = (await audit_payloads(api, "plan.transitioned"))[-1]
    assert entry == {"from": "collecting", "to": "scoring", "reason": "every value verified a week early"}


async def test_scoring_after_the_verification_deadline_needs_no_reason(api: Api, world: World):
    await api.collecting(world)
    await api.db.execute(
        text("UPDATE appraisal.plan SET verification_deadline = now() - interval '1 day' WHERE id = :id"),
        {"id": world.plan["id"]},
    )
    await api.db.commit()
    assert (await api.transition(world.plan["id"], "scoring")).status_code == 200


async def test_only_the_owners_office_moves_the_plan(api: Api, world: World):
    await api.collecting(world)
    plan_id = world.plan["id"]
    for headers in (clerk(api, "ft"), api.as_("audit"), api.as_("perf_office", "/gd/sz/ft")):
        assert_problem(await api.transition(plan_id, "scoring", headers=headers, reason="early"), 403)
    assert_problem(await api.transition(plan_id, "scoring", headers=api.as_("perf_office", "/gd/gz")), 404)
    assert (await api.ok("GET", f"/plans/{plan_id}"))["status"] == "collecting"


async def test_review_needs_a_finished_run_and_records_its_version(api: Api, world: World):
    await to_scoring(api, world)
    plan_id = world.plan["id"]
    assert "succeeded" in assert_problem(await api.transition(plan_id, "reviewed"), 409, "to")["detail"]
    first = await score_now(api, plan_id)
    queued = await request_run(api, plan_id)
    assert "running" in assert_problem(await api.transition(plan_id, "reviewed"), 409, "to")["detail"]
    second = await finish_run(api, queued)
    assert (await api.transition(plan_id, "reviewed")).status_code == 200
    entry = (await audit_payloads(api, "plan.transitioned"))[-1]
    assert entry["to"] == "reviewed" and entry["result_version"] == 2 == second["version"] == first["version"] + 1
    assert entry["results_hash"] == second["results_hash"] == first["results_hash"]  # same data, same hash


async def test_a_review_can_send_the_plan_back_to_scoring(api: Api, world: World):
    await to_scoring(api, world)
    await score_now(api, world.plan["id"])
    assert (await api.transition(world.plan["id"], "reviewed")).status_code == 200
    back = await api.transition(world.plan["id"], "scoring", reason="E2 values of lh look wrong")
    assert back.status_code == 200 and back.json()["status"] == "scoring"


async def test_the_objection_period_lasts_the_plans_objection_period(api: Api, world: World):
    before = dt.datetime.now(dt.UTC)
    await to_objection(api, world)
    plan = await api.ok("GET", f"/plans/{world.plan['id']}")
    closes = dt.datetime.fromisoformat(plan["objection_closes_at"])
    assert plan["status"] == "objection" and plan["objection_period"] == "P7D"
    assert before + dt.timedelta(days=7) <= closes <= dt.datetime.now(dt.UTC) + dt.timedelta(days=7)


async def test_publication_waits_for_the_period_the_rulings_and_the_runs(api: Api, world: World):
    await to_objection(api, world)
    plan_id = world.plan["id"]
    assert "objection period" in assert_problem(await request_publication(api, plan_id), 409, "to")["detail"]
    objection = (await file(api, world)).json()
    await close_objection_period(api, plan_id)
    assert_problem(await request_publication(api, plan_id), 409, "objections")
    await rule(api, world, objection, decision="dismissed", reason="The Q4 count was verified and used as is.")
    queued = await request_run(api, plan_id)  # the office rescores in the objection period
    assert "running" in assert_problem(await request_publication(api, plan_id), 409, "to")["detail"]
    await finish_run(api, queued)
    job = await publish_now(api, plan_id)
    assert (job["status"], job["mode"], job["run_id"], job["result_version"]) == ("succeeded", "publish", queued, 2)
    plan = await api.ok("GET", f"/plans/{plan_id}")
    assert plan["status"] == "published" and plan["published_run_id"] == queued and plan["published_at"] is not None


async def test_the_transitions_route_does_not_publish_it_points_at_the_publication_job(api: Api, world: World):
    await to_objection(api, world)
    await close_objection_period(api, world.plan["id"])
    body = assert_problem(await api.transition(world.plan["id"], "published"), 409, "to")
    assert f"/api/v1/plans/{world.plan['id']}/publications" in body["detail"]
    assert (await api.ok("GET", f"/plans/{world.plan['id']}"))["status"] == "objection"
    assert await published_events(api, world.plan["id"]) == []


# --- objections -----------------------------------------------------------------------------------


async def test_the_department_objects_with_evidence_once_per_key(api: Api, world: World):
    run = await to_objection(api, world)
    evidence = await api.ok(
        "POST",
        "/evidence",
        201,
        params={"name": "q4-jobs.csv"},
        content=b"quarter,jobs\nQ4,1240\n",
        headers={**clerk(api, "ft"), "Content-Type": "text/csv"},
    )
    body = {
        "object_id": world.objects["ft"],
        "indicator_code": "E1",
        "reason": "The verified Q4 job count (1,240) was not used.",
        "evidence_sha256": [evidence["sha256"]],
    }
    url = f"/plans/{world.plan['id']}/objections"
    headers = {**clerk(api, "ft"), "Idempotency-Key": "objection-ft-1"}
    first = await api.call("POST", url, headers=headers, json=body)
    assert first.status_code == 201, first.text
    filed = first.json()
    assert filed["status"] == "open" and filed["result_version"] == 1 and filed["filed_by"] == "clerk-ft"
    assert first.headers["ETag"] == '"1"' and first.headers["Location"].endswith(filed["id"])
    again = await api.call("POST", url, headers=headers, json=body)
    assert again.status_code == 201 and again.json()["id"] == filed["id"]
    listed = await api.ok("GET", url)
    assert [o["id"] for o in listed["items"]] == [filed["id"]]
    row = await api.db.scalar(text("SELECT run_id FROM appraisal.objection WHERE id = :id"), {"id": filed["id"]})
    assert str(row) == run["id"]
    assert (await audit_payloads(api, "objection.filed"))[-1]["indicator_code"] == "E1"
    # The office ruling on it reads the cited file; a neighbouring county does not.
    download = await api.call("GET", f"/evidence/{evidence['sha256']}")
    assert download.status_code == 200 and download.content == b"quarter,jobs\nQ4,1240\n"
    assert_problem(await api.call("GET", f"/evidence/{evidence['sha256']}", headers=clerk(api, "ns")), 404)


async def test_another_department_or_role_cannot_object_for_an_object(api: Api, world: World):
    await to_objection(api, world)
    url = f"/plans/{world.plan['id']}/objections"
    body = {"object_id": world.objects["ft"], "reason": "The verified Q4 job count was not used."}
    assert_problem(await api.call("POST", url, headers=clerk(api, "ns"), json=body), 404, "object_id")
    for role in ("perf_office", "audit", "verifier", "expert"):
        assert_problem(await api.call("POST", url, headers=api.as_(role, "/gd/sz/ft"), json=body), 403)
    stranger = api.as_("department", "/gd/gz/th")
    assert_problem(await api.call("POST", url, headers=stranger, json=body), 404)
    assert (await api.ok("GET", url))["items"] == []


async def test_poison_objections_are_refused_naming_the_field(api: Api, world: World):
    await to_objection(api, world)
    assert_problem(await file(api, world, indicator_code="NOPE"), 422, "indicator_code")
    assert_problem(await file(api, world, evidence_sha256=["a" * 64]), 422, "evidence_sha256.0")
    assert_problem(await file(api, world, evidence_sha256=["not-a-hash"]), 422, "evidence_sha256.0")
    assert_problem(await file(api, world, reason="x" * 4001), 422, "reason")
    assert_problem(await file(api, world, reason="short"), 422, "reason")
    assert_problem(await file(api, world, evidence_sha256=["a" * 64] * 21), 422, "evidence_sha256")
    assert_problem(await file(api, world, filed_by="someone-else"), 422, "filed_by")
    assert_problem(await file(api, world, object_id=str(uuid.uuid4())), 404, "object_id")
    # Another unit's file cannot be cited: it would become readable to whoever reads the objection.
    other = await api.ok(
        "POST",
        "/evidence",
        201,
        params={"name": "ns.txt"},
        content=b"ns internal",
        headers={**clerk(api, "ns"), "Content-Type": "text/plain"},
    )
    assert_problem(await file(api, world, evidence_sha256=[other["sha256"]]), 422, "evidence_sha256.0")
    assert (await api.ok("GET", f"/plans/{world.plan['id']}/objections"))["items"] == []


async def test_objections_are_filed_only_in_the_objection_period(api: Api, world: World):
    await to_scoring(api, world)
    await score_now(api, world.plan["id"])
    assert (await api.transition(world.plan["id"], "reviewed")).status_code == 200
    assert "objection period" in assert_problem(await file(api, world), 409)["detail"]
    assert (await api.transition(world.plan["id"], "objection")).status_code == 200
    assert (await file(api, world)).status_code == 201
    await close_objection_period(api, world.plan["id"])
    assert "closed" in assert_problem(await file(api, world), 409)["detail"]


async def test_each_reader_sees_the_objections_of_its_scope(api: Api, world: World):
    await to_objection(api, world)
    ft = (await file(api, world, "ft")).json()
    ns = (await file(api, world, "ns")).json()
    url = f"/plans/{world.plan['id']}/objections"

    async def seen(headers: dict[str, str], **params: Any) -> set[str]:
        return {o["id"] for o in (await api.ok("GET", url, headers=headers, params=params))["items"]}

    assert await seen(api.office) == {ft["id"], ns["id"]}
    assert await seen(api.as_("audit")) == {ft["id"], ns["id"]}
    assert await seen(api.as_("legal")) == {ft["id"], ns["id"]}
    assert await seen(clerk(api, "ft")) == {ft["id"]}
    assert await seen(clerk(api, "lh")) == set()
    assert_problem(await api.call("GET", url, headers=api.as_("verifier")), 403)
    assert_problem(await api.call("GET", f"{url}/{ft['id']}", headers=clerk(api, "ns")), 404)
    assert (await api.ok("GET", f"{url}/{ft['id']}", headers=clerk(api, "ft")))["id"] == ft["id"]
    await rule(api, world, ns, decision="dismissed", reason="The value was verified twice.")
    assert await seen(api.office, status="open") == {ft["id"]}
    assert await seen(api.office, status="dismissed") == {ns["id"]}
    assert_problem(await api.call("GET", url, params={"status": "bogus"}), 422, "status")
    first = await api.ok("GET", url, params={"limit": 1})
    rest = await api.ok("GET", url, params={"limit": 1, "cursor": first["next_cursor"]})
    assert {first["items"][0]["id"], rest["items"][0]["id"]} == {ft["id"], ns["id"]} and rest["next_cursor"] is None


# --- rulings --------------------------------------------------------------------------------------


async def test_a_dismissal_needs_a_reason_is_final_and_changes_nothing(api: Api, world: World):
    await to_objection(api, world)
    objection = (await file(api, world)).json()
    url = f"/plans/{world.plan['id']}/objections/{objection['id']}/ruling"
    dismissal = {"decision": "dismissed", "reason": "The Q4 count was verified and used as is."}
    assert_problem(await api.call("POST", url, json=dismissal), 428, "If-Match")
    assert_problem(await api.call("POST", url, json=dismissal, headers={**api.office, "If-Match": '"7"'}), 412)
    assert_problem(await rule(api, world, objection, headers=clerk(api, "ft"), **dismissal), 403)
    assert_problem(await rule(api, world, objection, headers=api.as_("perf_office", "/gd/sz/ft"), **dismissal), 403)
    assert_problem(await rule(api, world, objection, decision="dismissed"), 422, "reason")
    with_correction = {**dismissal, "correction": {"target_ids": [str(uuid.uuid4())], "note": "n"}}
    assert_problem(await rule(api, world, objection, **with_correction), 422)
    ruled = await rule(api, world, objection, **dismissal)
    assert ruled.status_code == 200, ruled.text
    assert ruled.json()["status"] == "dismissed" and ruled.json()["rescore_run_id"] is None
    assert ruled.headers["ETag"] == '"2"'
    second = await rule(api, world, ruled.json(), decision="upheld", reason="Changed my mind after all.")
    assert_problem(second, 422)  # an upheld ruling names its correction
    second = await rule(api, world, ruled.json(), **dismissal)
    assert "final" in assert_problem(second, 409)["detail"]
    # Nothing else changed: no new result version, and publication carries version 1 only.
    versions = (
        await api.db.scalars(select(ScoringRun.version).where(ScoringRun.plan_id == uuid.UUID(world.plan["id"])))
    ).all()
    assert list(versions) == [1]
    await publish(api, world)
    events = await published_events(api, world.plan["id"])
    assert [e["data"]["result_version"] for e in events] == [1]


# --- the results event ----------------------------------------------------------------------------


async def test_publication_emits_the_results_event_that_feedback_consumes(api: Api, world: World):
    run = await to_objection(api, world)
    plan = await publish(api, world)
    [envelope] = await published_events(api, world.plan["id"])
    assert envelope["type"] == "appraisal.results.published" and envelope["subject"] == world.plan["id"]
    published = ResultsPublished.model_validate(envelope["data"])
    assert published.result_version == 1 and published.object_count == 6 and published.objects_ref is None
    assert published.results_hash == run["results_hash"] and plan["published_run_id"] == run["id"]
    assert published.hash_rules == run["hash_rules"] == HASH_RULES
    assert published.grade_scale == ("A", "B", "C", "D") and published.cycle_label == "2026"
    by_id = {str(o.object_id): o for o in published.objects}
    ranks = {c: by_id[world.objects[c]].rank for c in E1_VALUES}
    assert ranks == {"ns": 1, "lh": 1, "ft": 3, "bx": 4, "lg": 5, "yt": 6}  # competition ranking
    # Every object as the engine's own league table and explain tree show it.
    table = {row["object_id"]: row for row in (await api.ok("GET", f"/plans/{world.plan['id']}/results"))["items"]}
    for object_id, item in by_id.items():
        row = table[object_id]
        assert (item.composite, item.grade, item.rank, item.peer_count) == (
            Decimal(row["composite"]),
            row["grade"],
            row["rank"],
            row["peer_count"],
        )
    ft = by_id[world.objects["ft"]]
    tree = await api.ok("GET", f"/plans/{world.plan['id']}/results/{world.objects['ft']}")
    e1 = next(leaf for leaf in ft.leaves if leaf.indicator_code == "E1")
    # 900 of a 1000 target: share 0.9 of 30 marks.
    assert (e1.value, e1.target, e1.marks, e1.max_marks, e1.attainment) == (
        Decimal("900"),
        Decimal("1000"),
        Decimal("27"),
        Decimal("30"),
        Decimal("0.9"),
    )
    assert e1.name == "New jobs" and e1.subject == "performance_office" and not e1.missing
    q1 = next(leaf for leaf in ft.leaves if leaf.indicator_code == "Q1")
    assert q1.missing and q1.attainment is None and q1.value is None and q1.kind == "qualitative"
    scores = {s.subject: s.score for s in ft.subject_scores}
    assert scores == {s["subject"]: Decimal(s["score"]) for s in tree["subjects"] if s["score"] is not None}
    assert ft.composite == Decimal(tree["composite"]) and not ft.vetoed
    audit = (await audit_payloads(api, "plan.transitioned"))[-1]
    assert audit["to"] == "published" and audit["result_version"] == 1 and audit["event_id"] == envelope["id"]

    # feedback_svc's own handler takes it: the plan's results land in its schema.
    await apply_results_published(api.db, CloudEvent.model_validate(envelope))
    await api.db.flush()
    stored = await api.db.get(PlanResult, uuid.UUID(world.plan["id"]))
    assert stored is not None and stored.result_version == 1 and stored.results_hash == published.results_hash


async def test_an_upheld_objection_rescores_and_the_new_version_is_published(api: Api, world: World):
    await to_objection(api, world)
    plan_id, ft = world.plan["id"], world.objects["ft"]
    objection = (await file(api, world, indicator_code="E1")).json()
    # The office corrects the value through the data routes: a new revision, verified and accepted.
    point = await api.submit("ft", ft, "1000")
    verifier = api.as_("verifier", "/gd/sz", "verifier-city")
    for to, headers in (("verified", verifier), ("accepted", api.office)):
        moved = await api.call("POST", f"/data-points/{point['id']}/transitions", headers=headers, json={"to": to})
        assert moved.status_code == 200, moved.text
    correction = {"data_point_ids": [point["id"]], "note": "Q4 jobs 1,000 as verified by the labour bureau."}
    assert_problem(
        await rule(
            api,
            world,
            objection,
            decision="upheld",
            reason="The verified Q4 count was missing.",
            correction={**correction, "data_point_ids": [str(uuid.uuid4())]},
        ),
        422,
        "correction.data_point_ids.0",
    )
    ruled = await rule(
        api, world, objection, decision="upheld", reason="The verified Q4 count was missing.", correction=correction
    )
    assert ruled.status_code == 200, ruled.text
    assert ruled.json()["status"] == "upheld" and ruled.json()["correction"] == {**correction, "target_ids": []}
    rescore = str(ruled.json()["rescore_run_id"])
    run = await api.ok("GET", f"/plans/{plan_id}/scoring-runs/{rescore}")
    assert run["version"] == 2 and run["status"] == "queued" and run["reason"] == f"objection {objection['id']} upheld"
    await close_objection_period(api, plan_id)
    assert "running" in assert_problem(await request_publication(api, plan_id), 409)["detail"]
    await finish_run(api, rescore)
    await publish(api, world)
    [envelope] = await published_events(api, plan_id)
    published = ResultsPublished.model_validate(envelope["data"])
    assert published.result_version == 2
    item = next(o for o in published.objects if str(o.object_id) == ft)
    e1 = next(leaf for leaf in item.leaves if leaf.indicator_code == "E1")
    assert (e1.value, e1.marks, item.rank) == (Decimal("1000"), Decimal("30"), 1)  # now tied at the top
    # Version 1 stays readable.
    assert (await api.ok("GET", f"/plans/{plan_id}/results", params={"version": 1}))["version"] == 1


async def test_publication_refuses_when_the_upheld_rescore_failed(api: Api, world: World):
    await to_objection(api, world)
    objection = (await file(api, world, indicator_code="E1")).json()
    target = await api.ok("GET", f"/plans/{world.plan['id']}/targets", params={"object_id": world.objects["ft"]})
    correction = {"target_ids": [target["items"][0]["id"]], "note": "The target was entered in the wrong unit."}
    ruled = await rule(api, world, objection, decision="upheld", reason="Target unit corrected.", correction=correction)
    assert ruled.status_code == 200, ruled.text
    await api.db.execute(
        text("UPDATE appraisal.scoring_run SET status = 'failed' WHERE id = :id"),
        {"id": ruled.json()["rescore_run_id"]},
    )
    await api.db.commit()
    await close_objection_period(api, world.plan["id"])
    assert "did not succeed" in assert_problem(await request_publication(api, world.plan["id"]), 409)["detail"]


async def test_republication_needs_a_newer_version_and_emits_a_newer_event(api: Api, world: World):
    await to_objection(api, world)
    plan = await publish(api, world)
    url = f"/plans/{world.plan['id']}/publications"
    etag = {**api.office, "If-Match": f'"{plan["lock_version"]}"'}
    assert "newer" in assert_problem(await api.call("POST", url, headers=etag), 409)["detail"]
    assert_problem(await api.call("POST", url), 428, "If-Match")
    assert_problem(await api.call("POST", url, headers={**clerk(api, "ft"), "If-Match": etag["If-Match"]}), 403)
    # The guards allow no rescore after publication (SCORABLE ends with the objection period), so a
    # newer version only exists if written outside them: the result tables are written directly.
    corrected = {**default_composites(world), world.objects["yt"]: Decimal("44")}
    await insert_run(api.db, world.plan["id"], corrected, version=2)
    again = await api.call("POST", url, headers=etag)
    assert again.status_code == 202, again.text
    assert (again.json()["mode"], again.json()["result_version"]) == ("republish", 2)
    job = await finish_publication(api, world.plan["id"], again.json()["id"])
    assert job["status"] == "succeeded" and job["by_reference"] is False
    after = await api.call("GET", f"/plans/{world.plan['id']}")
    assert after.json()["published_run_id"] == job["run_id"] != plan["published_run_id"]
    assert after.headers["ETag"] == f'"{plan["lock_version"] + 1}"'
    events = [ResultsPublished.model_validate(e["data"]) for e in await published_events(api, world.plan["id"])]
    assert [e.result_version for e in events] == [1, 2]
    assert job["event_id"] == str((await published_events(api, world.plan["id"]))[1]["id"])
    yt = next(o for o in events[1].objects if str(o.object_id) == world.objects["yt"])
    assert yt.composite == Decimal("44") and yt.rank == 4  # behind 58.5, 51.25, 51.25
    assert_problem(await api.call("POST", url, headers=etag), 412)
    audit = (await audit_payloads(api, "plan.republished"))[-1]
    assert (audit["from_version"], audit["result_version"], audit["event_id"]) == (1, 2, job["event_id"])


# --- publication as a job -------------------------------------------------------------------------


async def test_a_publication_is_a_job_resource_the_plan_changes_only_when_it_succeeds(api: Api, world: World):
    await to_objection(api, world)
    plan_id = world.plan["id"]
    await close_objection_period(api, plan_id)
    response = await request_publication(api, plan_id)
    assert response.status_code == 202, response.text
    queued = response.json()
    assert (queued["status"], queued["mode"], queued["result_version"], queued["event_id"]) == (
        "queued",
        "publish",
        1,
        None,
    )
    # Requested, not done: the plan is still in its objection period and no event exists.
    assert (await api.ok("GET", f"/plans/{plan_id}"))["status"] == "objection"
    assert await published_events(api, plan_id) == []
    # One active publication per plan: a second request (same ETag) is refused and names the first.
    second = assert_problem(await request_publication(api, plan_id), 409, "plan_id")
    assert queued["id"] in second["detail"]
    listed = await api.ok("GET", f"/plans/{plan_id}/publications")
    assert [p["id"] for p in listed["items"]] == [queued["id"]] and listed["next_cursor"] is None
    done = await finish_publication(api, plan_id, queued["id"])
    assert done["status"] == "succeeded" and done["progress"] == 1 and done["finished_at"] is not None
    [envelope] = await published_events(api, plan_id)
    assert done["event_id"] == envelope["id"]
    assert (await api.ok("GET", f"/plans/{plan_id}"))["status"] == "published"
    # Readers: the department does not see the office's jobs; another plan's id is a 404.
    assert_problem(
        await api.call("GET", f"/plans/{plan_id}/publications/{queued['id']}", headers=clerk(api, "ft")), 403
    )
    assert_problem(await api.call("GET", f"/plans/{plan_id}/publications/{uuid.uuid4()}"), 404)


async def test_a_publication_request_replays_its_idempotency_key(api: Api, world: World):
    await to_objection(api, world)
    plan_id = world.plan["id"]
    await close_objection_period(api, plan_id)
    headers = {**api.office, "If-Match": await api.plan_etag(plan_id), "Idempotency-Key": "publish-2026-once"}
    first = await api.call("POST", f"/plans/{plan_id}/publications", headers=headers)
    again = await api.call("POST", f"/plans/{plan_id}/publications", headers=headers)
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len((await api.ok("GET", f"/plans/{plan_id}/publications"))["items"]) == 1


async def test_a_plan_changed_after_the_request_fails_the_job_and_stays_unpublished(api: Api, world: World):
    await to_objection(api, world)
    plan_id = world.plan["id"]
    await close_objection_period(api, plan_id)
    queued = (await request_publication(api, plan_id)).json()
    # The request's If-Match holds until the job runs: the office edits the plan meanwhile.
    await api.db.execute(
        text("UPDATE appraisal.plan SET lock_version = lock_version + 1 WHERE id = :id"), {"id": plan_id}
    )
    await api.db.commit()
    job = await finish_publication(api, plan_id, queued["id"])
    assert job["status"] == "failed" and "changed after" in job["error"] and job["event_id"] is None
    assert (await api.ok("GET", f"/plans/{plan_id}"))["status"] == "objection"
    assert await published_events(api, plan_id) == []
    # A fresh request with the new ETag publishes.
    assert (await publish_now(api, plan_id))["status"] == "succeeded"


async def test_a_job_that_finds_its_version_already_published_succeeds_without_a_second_event(api: Api, world: World):
    await to_objection(api, world)
    plan_id = world.plan["id"]
    await close_objection_period(api, plan_id)
    first = await publish_now(api, plan_id)
    # The same job again, as when a worker silent past the stale limit is reclaimed after it committed.
    job = await jobs.get(api.db, JOBS, uuid.UUID(first["id"]))
    assert job is not None
    again, _ = await jobs.enqueue(
        api.db, JOBS, kind=job.kind, subject=job.subject, params=job.params, created_by=job.created_by
    )
    repeated = await finish_publication(api, plan_id, str(again.id))
    assert repeated["status"] == "succeeded" and repeated["event_id"] == first["event_id"]
    assert len(await published_events(api, plan_id)) == 1
    steps = [entry["to"] for entry in await audit_payloads(api, "plan.transitioned")]
    assert steps.count("published") == 1


async def test_only_the_owners_office_requests_a_publication(api: Api, world: World):
    await to_objection(api, world)
    plan_id = world.plan["id"]
    await close_objection_period(api, plan_id)
    etag = await api.plan_etag(plan_id)
    other_office = api.as_("perf_office", "/gd/sz/ft", "office-ft")
    for headers, status in ((clerk(api, "ft"), 403), (other_office, 403), (api.as_("audit", "/gd/sz", "aud"), 403)):
        assert_problem(await request_publication(api, plan_id, {**headers, "If-Match": etag}), status)
    assert_problem(await request_publication(api, plan_id, {**api.office, "If-Match": '"999"'}), 412)
    assert (await api.ok("GET", f"/plans/{plan_id}/publications"))["items"] == []


async def test_a_plan_too_big_for_one_event_is_published_by_reference(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch, client: Any
):
    await to_objection(api, world)
    # A broker that accepts 8 KiB: six objects no longer fit in one event.
    monkeypatch.setattr(outbox, "_max_payload", 8 * 1024)
    await publish(api, world)
    [envelope] = await published_events(api, world.plan["id"])
    published = ResultsPublished.model_validate(envelope["data"])
    assert published.objects == [] and published.object_count == 6 and published.objects_ref is not None
    fetched, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = await client.get(published.objects_ref, params=params)
        assert page.status_code == 200, page.text
        fetched += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(fetched) == 6
    assert objects_digest(ObjectResult.model_validate(o) for o in fetched) == published.objects_hash
    stale = published.objects_ref.replace("/versions/1/", "/versions/2/")
    assert (await client.get(stale)).status_code == 404
