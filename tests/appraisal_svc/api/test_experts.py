"""Expert assignments with their conflict check, sealed ratings and their window, veto events."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import text

from tests.appraisal_svc.api.support import FRAMEWORK, Api, World, assert_problem

EXPERT = ("expert", "/gd/gz", "expert-li")  # role, org path, subject: a Guangzhou expert rates Shenzhen's counties


def expert(api: Api, org_path: str = EXPERT[1], subject: str = EXPERT[2]) -> dict[str, str]:
    return api.auth("expert", org_path=org_path, subject=subject)


def row(world: World, county: str = "ft", **fields: Any) -> dict[str, Any]:
    return {
        "expert": EXPERT[2],
        "expert_org_path": EXPERT[1],
        "object_id": world.objects[county],
        "indicator_code": "Q1",
        "subject": "experts",
        **fields,
    }


async def open_window(api: Api, world: World, closes_in: dt.timedelta = dt.timedelta(days=30)) -> None:
    """The draft gets a rating window and opens for targets (ratings are taken from then on)."""
    plan = await api.ok("GET", f"/plans/{world.plan['id']}")
    closes_at = (dt.datetime.now(dt.UTC) + closes_in).isoformat()
    await api.ok(
        "PATCH",
        f"/plans/{world.plan['id']}",
        json={"rating_closes_at": closes_at},
        headers={**api.office, "If-Match": f'"{plan["lock_version"]}"'},
    )
    assert (await api.transition(world.plan["id"], "targets_open")).status_code == 200


async def close_window(api: Api, world: World) -> None:
    """Time passes: the window's end lies behind us."""
    await api.db.execute(
        text("UPDATE appraisal.plan SET rating_closes_at = now() - interval '1 second' WHERE id = :id"),
        {"id": world.plan["id"]},
    )
    # The requests share this session: keep the change past their rollbacks, forget the plan as loaded.
    await api.db.commit()
    api.db.expire_all()


async def assign(api: Api, world: World, *rows: dict[str, Any]) -> list[str]:
    body = await api.ok("POST", f"/plans/{world.plan['id']}/expert-assignments", 201, json={"items": list(rows)})
    assert body["created"] == len(rows)
    return list(body["ids"])


async def rate(api: Api, world: World, assignment_id: str, grade: str, headers: dict[str, str]) -> Any:
    return await api.call(
        "PUT", f"/plans/{world.plan['id']}/expert-ratings/{assignment_id}", headers=headers, json={"grade": grade}
    )


# Assignments


async def test_the_office_assigns_a_panel_and_lists_it_with_whether_each_is_rated(api: Api, world: World) -> None:
    ids = await assign(api, world, row(world, "ft"), row(world, "ns"), row(world, "ft", expert="expert-wang"))
    page = await api.ok("GET", f"/plans/{world.plan['id']}/expert-assignments", params={"limit": 2})
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await api.ok("GET", f"/plans/{world.plan['id']}/expert-assignments", params={"cursor": page["next_cursor"]})
    listed = page["items"] + rest["items"]
    assert sorted(a["id"] for a in listed) == sorted(ids)
    assert all(a["rated"] is False and a["assigned_by"] == "office-sz" for a in listed)
    # One audit entry for the batch: its rows (few here) and their digest.
    logged = (
        (await api.db.execute(text("SELECT payload FROM appraisal.audit_log WHERE action = 'expert.assigned'")))
        .scalars()
        .all()
    )
    assert len(logged) == 1
    entry = logged[0] if isinstance(logged[0], dict) else json.loads(logged[0])
    assert entry["count"] == 3 and len(entry["rows_sha256"]) == 64
    assert sorted(line.split(",")[0] for line in entry["rows"]) == sorted(ids)
    # The expert sees their own two, not their colleague's.
    mine = await api.ok("GET", f"/plans/{world.plan['id']}/expert-assignments", headers=expert(api))
    assert {a["object_id"] for a in mine["items"]} == {world.objects["ft"], world.objects["ns"]}


async def test_an_expert_of_the_rated_unit_or_below_is_refused_naming_the_rows(api: Api, world: World) -> None:
    rows = [
        row(world, "ft"),
        row(world, "ft", expert="clerk-edu", expert_org_path="/gd/sz/ft/edu"),  # below the rated county
        row(world, "ns", expert="ns-insider", expert_org_path="/gd/sz/ns"),  # the rated county itself
        row(world, "ns", expert="province-prof", expert_org_path="/gd"),  # above it: no conflict
    ]
    response = await api.call("POST", f"/plans/{world.plan['id']}/expert-assignments", json={"items": rows})
    body = assert_problem(response, 409, "items.1.expert_org_path", "items.2.expert_org_path")
    assert {e["field"] for e in body["errors"]} == {"items.1.expert_org_path", "items.2.expert_org_path"}
    # All or nothing.
    listed = await api.ok("GET", f"/plans/{world.plan['id']}/expert-assignments")
    assert listed["items"] == []


async def test_rows_that_name_no_rated_leaf_or_object_are_refused_together(api: Api, world: World) -> None:
    rows = [
        row(world, "ft", indicator_code="E1"),  # a quantitative leaf
        row(world, "ft", subject="public"),  # Q1 does not count for the public
        {**row(world), "object_id": str(uuid.uuid4())},
        row(world, "ns"),
        row(world, "ns"),  # twice
    ]
    response = await api.call("POST", f"/plans/{world.plan['id']}/expert-assignments", json={"items": rows})
    assert_problem(
        response,
        422,
        "items.0.indicator_code",
        "items.1.subject",
        "items.2.object_id",
        "items.3.expert",
        "items.4.expert",
    )
    await assign(api, world, row(world, "ns"))
    again = await api.call("POST", f"/plans/{world.plan['id']}/expert-assignments", json={"items": [row(world, "ns")]})
    assert_problem(again, 422, "items.0.expert")


async def test_poison_batches_are_refused_before_any_work(api: Api, world: World) -> None:
    path = f"/plans/{world.plan['id']}/expert-assignments"
    too_many = {"items": [row(world)] * 5_001}
    assert_problem(await api.call("POST", path, json=too_many), 422, "items")
    assert_problem(await api.call("POST", path, json={"items": [{**row(world), "grade": "A"}]}), 422, "grade")
    bad_path = row(world, expert_org_path="/GD/../x")
    assert_problem(await api.call("POST", path, json={"items": [bad_path]}), 422, "expert_org_path")
    control = row(world, expert="li\x00")
    assert_problem(await api.call("POST", path, json={"items": [control]}), 422, "expert")


async def test_only_the_plans_office_assigns(api: Api, world: World) -> None:
    path = f"/plans/{world.plan['id']}/expert-assignments"
    body = {"items": [row(world)]}
    assert (await api.call("POST", path, json=body, headers=api.as_("perf_office", "/gd/sz/ft"))).status_code == 403
    assert (await api.call("POST", path, json=body, headers=api.as_("audit"))).status_code == 403
    assert (await api.call("POST", path, json=body, headers=api.as_("perf_office", "/gd/gz"))).status_code == 404
    assert (await api.call("POST", path, json=body, headers=expert(api))).status_code == 403


async def test_an_assignment_is_created_once_per_idempotency_key(api: Api, world: World) -> None:
    path = f"/plans/{world.plan['id']}/expert-assignments"
    headers = {**api.office, "Idempotency-Key": "panel-1"}
    first = await api.ok("POST", path, 201, headers=headers, json={"items": [row(world)]})
    second = await api.call("POST", path, headers=headers, json={"items": [row(world)]})
    assert second.status_code == 201 and second.json() == first
    assert second.headers["Idempotent-Replayed"] == "true"


async def test_an_assignment_is_withdrawn_before_the_window_closes_only(api: Api, world: World) -> None:
    await open_window(api, world)
    keep, drop = await assign(api, world, row(world, "ft"), row(world, "ns"))
    path = f"/plans/{world.plan['id']}/expert-assignments"
    assert (await api.call("DELETE", f"{path}/{drop}")).status_code == 204
    assert (await api.call("DELETE", f"{path}/{drop}")).status_code == 404
    assert [a["id"] for a in (await api.ok("GET", path))["items"]] == [keep]
    await close_window(api, world)
    assert_problem(await api.call("DELETE", f"{path}/{keep}"), 409)
    assert_problem(await api.call("POST", path, json={"items": [row(world, "lh")]}), 409)


# Sealed ratings


async def test_the_assigned_expert_rates_and_changes_until_the_window_closes(api: Api, world: World) -> None:
    await open_window(api, world)
    (assignment,) = await assign(api, world, row(world))
    first = await rate(api, world, assignment, "B", expert(api))
    assert first.status_code == 200, first.text
    assert first.json()["grade"] == "B" and first.json()["sealed"] is True
    changed = await rate(api, world, assignment, "A", expert(api))
    assert changed.status_code == 200 and changed.json()["grade"] == "A"
    mine = await api.ok(
        "GET", f"/plans/{world.plan['id']}/expert-ratings", params={"mine": "true"}, headers=expert(api)
    )
    assert [(r["assignment_id"], r["grade"]) for r in mine["items"]] == [(assignment, "A")]
    await close_window(api, world)
    late = await rate(api, world, assignment, "D", expert(api))
    assert_problem(late, 409)
    after = await api.ok("GET", f"/plans/{world.plan['id']}/expert-ratings")
    assert [r["grade"] for r in after["items"]] == ["A"]


async def test_ratings_are_sealed_from_the_office_and_joint_meeting_units_until_the_window_closes(
    api: Api, world: World
) -> None:
    await open_window(api, world)
    (assignment,) = await assign(api, world, row(world))
    assert (await rate(api, world, assignment, "C", expert(api))).status_code == 200
    path = f"/plans/{world.plan['id']}/expert-ratings"
    for headers in (api.office, api.as_("audit"), api.as_("supervision")):
        sealed = (await api.ok("GET", path, headers=headers))["items"]
        assert len(sealed) == 1 and sealed[0]["sealed"] is True
        assert sealed[0]["grade"] is None and sealed[0]["comment"] is None and sealed[0]["seal_nonce"] is None
    # The office sees that it is rated, not how.
    panel = await api.ok("GET", f"/plans/{world.plan['id']}/expert-assignments")
    assert panel["items"][0]["rated"] is True and "grade" not in panel["items"][0]
    # Another expert and the appraised department see nothing of it.
    other = expert(api, subject="expert-wang")
    assert (await api.ok("GET", path, params={"mine": "true"}, headers=other))["items"] == []
    assert (await api.call("GET", path, headers=other)).status_code == 403
    assert (await api.call("GET", path, headers=api.as_("department", "/gd/sz/ft"))).status_code == 403
    await close_window(api, world)
    for headers in (api.office, api.as_("audit"), api.as_("finance"), api.as_("legal")):
        opened = (await api.ok("GET", path, headers=headers))["items"]
        assert [r["grade"] for r in opened] == ["C"] and opened[0]["sealed"] is False
    # Anyone who reads it can check it against the commitment the audit log recorded while sealed.
    rating = opened[0]
    digest = hashlib.sha256(f"{rating['seal_nonce']}\n{assignment}\nC\n".encode()).hexdigest()
    assert rating["commitment"] == digest
    logged = await api.db.execute(
        text("SELECT payload FROM appraisal.audit_log WHERE action = 'expert.rated' AND entity_id = :id"),
        {"id": assignment},
    )
    payloads = [str(r.payload) for r in logged]
    assert len(payloads) == 1 and digest in payloads[0] and '"C"' not in payloads[0]


async def test_a_wrong_expert_cannot_rate_another_experts_assignment(api: Api, world: World) -> None:
    await open_window(api, world)
    (assignment,) = await assign(api, world, row(world))
    impostor = expert(api, subject="expert-wang")
    assert_problem(await rate(api, world, assignment, "A", impostor), 404)
    # Not even the office may rate in the expert's name.
    assert_problem(await rate(api, world, assignment, "A", api.office), 403)
    assert (await api.ok("GET", f"/plans/{world.plan['id']}/expert-assignments"))["items"][0]["rated"] is False


async def test_the_conflict_check_runs_again_against_the_token(api: Api, world: World) -> None:
    await open_window(api, world)
    (assignment,) = await assign(api, world, row(world, "ft"))
    # The same person now signs in from the rated county's education bureau (moved since assignment).
    moved = expert(api, org_path="/gd/sz/ft/edu")
    assert_problem(await rate(api, world, assignment, "A", moved), 409, "assignment_id")


async def test_a_grade_off_the_leafs_scale_is_refused(api: Api, world: World) -> None:
    await open_window(api, world)
    (assignment,) = await assign(api, world, row(world))
    assert_problem(await rate(api, world, assignment, "5", expert(api)), 422, "grade")
    assert_problem(await rate(api, world, assignment, "a", expert(api)), 422, "grade")
    long_comment = await api.call(
        "PUT",
        f"/plans/{world.plan['id']}/expert-ratings/{assignment}",
        headers=expert(api),
        json={"grade": "A", "comment": "x" * 2_001},
    )
    assert_problem(long_comment, 422, "comment")


async def test_no_rating_without_a_stated_window(api: Api, world: World) -> None:
    assert (await api.transition(world.plan["id"], "targets_open")).status_code == 200
    (assignment,) = await assign(api, world, row(world))
    assert_problem(await rate(api, world, assignment, "A", expert(api)), 409)


# Veto events

VETO_FRAMEWORK = {
    **FRAMEWORK,
    "code": "city-2026-veto",
    "indicators": [
        *FRAMEWORK["indicators"],
        {
            "code": "V1",
            "name": "Safety veto",
            "weight": 0,
            "kind": "veto",
            "scoring": {"method": "veto", "events": ["major_safety_accident"], "cap_grade": "C"},
        },
    ],
}


async def veto_plan(api: Api, world: World) -> str:
    event = await api.receive_framework(VETO_FRAMEWORK)
    plan = await api.create_plan(
        world.city["id"], world.cycle_id, event.data["framework_id"], list(world.objects.values())
    )
    return str(plan["id"])


async def test_supervision_records_and_withdraws_a_veto_event(api: Api, world: World) -> None:
    plan_id = await veto_plan(api, world)
    supervision = api.as_("supervision", "/gd/sz", "supervision-sz")
    body = {"object_id": world.objects["ft"], "code": "major_safety_accident", "description": "Bridge collapse."}
    created = await api.ok("POST", f"/plans/{plan_id}/veto-events", 201, headers=supervision, json=body)
    assert created["recorded_by"] == "supervision-sz" and created["withdrawn_at"] is None
    listed = await api.ok("GET", f"/plans/{plan_id}/veto-events", params={"active": "true"})
    assert [v["id"] for v in listed["items"]] == [created["id"]]
    withdrawn = await api.ok(
        "POST",
        f"/plans/{plan_id}/veto-events/{created['id']}/withdraw",
        headers=supervision,
        json={"reason": "The inquiry found no fault of the county."},
    )
    assert withdrawn["withdrawn_by"] == "supervision-sz" and withdrawn["withdraw_reason"].startswith("The inquiry")
    again = await api.call(
        "POST", f"/plans/{plan_id}/veto-events/{created['id']}/withdraw", headers=supervision, json={"reason": "x"}
    )
    assert_problem(again, 409)
    assert (await api.ok("GET", f"/plans/{plan_id}/veto-events", params={"active": "true"}))["items"] == []
    everything = await api.ok("GET", f"/plans/{plan_id}/veto-events")
    assert [v["withdrawn_at"] is not None for v in everything["items"]] == [True]
    actions = (
        (
            await api.db.execute(
                text("SELECT action FROM appraisal.audit_log WHERE entity_id = :id ORDER BY seq"), {"id": created["id"]}
            )
        )
        .scalars()
        .all()
    )
    assert actions == ["veto.recorded", "veto.withdrawn"]


async def test_a_veto_code_no_veto_leaf_lists_is_refused(api: Api, world: World) -> None:
    plan_id = await veto_plan(api, world)
    body = {"object_id": world.objects["ft"], "code": "major_safety_accident ", "description": "Trailing space."}
    accepted = await api.call("POST", f"/plans/{plan_id}/veto-events", json=body)
    assert accepted.status_code == 201  # surrounding blanks are not part of a code
    unknown = {**body, "code": "minor_paperwork"}
    assert_problem(await api.call("POST", f"/plans/{plan_id}/veto-events", json=unknown), 422, "code")
    # The plan of the world has no veto leaf at all.
    assert_problem(await api.call("POST", f"/plans/{world.plan['id']}/veto-events", json=body), 422, "code")


async def test_veto_events_only_by_the_right_units_on_objects_of_the_plan_in_scope(api: Api, world: World) -> None:
    plan_id = await veto_plan(api, world)
    path = f"/plans/{plan_id}/veto-events"
    body = {"object_id": world.objects["ft"], "code": "major_safety_accident", "description": "x"}
    assert_problem(await api.call("POST", path, json=body, headers=api.as_("department", "/gd/sz/ft")), 403)
    assert_problem(await api.call("POST", path, json=body, headers=api.as_("finance")), 403)
    # A county's legal unit sees the city's plan but may veto only its own county.
    ns_legal = api.as_("legal", "/gd/sz/ns")
    assert_problem(await api.call("POST", path, json=body, headers=ns_legal), 422, "object_id")
    assert (
        await api.call("POST", path, json={**body, "object_id": world.objects["ns"]}, headers=ns_legal)
    ).status_code == 201
    assert_problem(await api.call("POST", path, json={**body, "object_id": str(uuid.uuid4())}), 422, "object_id")
    assert (await api.call("POST", path, json=body, headers=api.as_("audit", "/gd/gz"))).status_code == 404
    # The county's reader sees its own veto, not its neighbour's.
    seen = await api.ok("GET", path, headers=api.as_("department", "/gd/sz/ft"))
    assert seen["items"] == []
