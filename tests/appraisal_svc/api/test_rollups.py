"""Roll-ups (an annual result from its quarters' published results) and peacetime monitoring
(leaves whose progress lags the time elapsed in the cycle)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from services.appraisal_svc.rollup import logic
from services.appraisal_svc.rollup import service as rollup_service
from tests.appraisal_svc.api.support import FRAMEWORK, Api, World, assert_problem

QUARTERS = {
    "2026-Q1": ("2026-01-01", "2026-03-31"),
    "2026-Q2": ("2026-04-01", "2026-06-30"),
    "2026-Q3": ("2026-07-01", "2026-09-30"),
    "2026-Q4": ("2026-10-01", "2026-12-31"),
}


async def quarters(api: Api, world: World) -> dict[str, str]:
    ids = {}
    for label, (starts, ends) in QUARTERS.items():
        body = {
            "kind": "quarterly",
            "label": label,
            "starts_on": starts,
            "ends_on": ends,
            "org_path": "/gd/sz",
            "parent_id": world.cycle_id,
        }
        ids[label] = (await api.ok("POST", "/cycles", 201, json=body))["id"]
    return ids


async def published_plan(
    api: Api, world: World, cycle_id: str, composites: dict[str, str], framework_id: str | None = None
) -> str:
    """A quarter's plan, scored and published (the scoring and publication branches' work, written
    here as their result rows would be)."""
    plan = await api.create_plan(
        world.city["id"], cycle_id, framework_id or world.framework_id, list(world.objects.values())
    )
    await publish_rows(api, plan["id"], composites)
    return str(plan["id"])


async def publish_rows(api: Api, plan_id: str, composites: dict[str, str], status: str = "published") -> None:
    run_id = uuid.uuid4()
    await api.db.execute(
        text(
            "INSERT INTO appraisal.scoring_run (id, plan_id, version, status, reason, requested_by) "
            "VALUES (:run, :plan, 1, 'succeeded', 'requested', 'office-sz')"
        ),
        {"run": run_id, "plan": plan_id},
    )
    for object_id, composite in composites.items():
        await api.db.execute(
            text(
                "INSERT INTO appraisal.result (run_id, object_id, plan_id, peer_group, base, bonus, deduction, "
                "composite, grade_by_score, veto_codes, quota_demoted, grade, rank, peer_count) "
                "VALUES (:run, :object, :plan, 'county', :c, 0, 0, :c, 'B', '{}', false, 'B', 1, 6)"
            ),
            {"run": run_id, "object": object_id, "plan": plan_id, "c": Decimal(composite)},
        )
    await api.db.execute(
        text(
            "UPDATE appraisal.plan SET status = :status, published_run_id = :run, published_at = now() WHERE id = :plan"
        ),
        {"run": run_id, "plan": plan_id, "status": status},
    )
    await api.db.commit()
    api.db.expire_all()


async def set_rollup(api: Api, world: World, rule: dict[str, Any]) -> Any:
    plan = await api.ok("GET", f"/plans/{world.plan['id']}")
    return await api.call(
        "PATCH",
        f"/plans/{world.plan['id']}",
        json={"rollup": rule},
        headers={**api.office, "If-Match": f'"{plan["lock_version"]}"'},
    )


async def test_an_annual_result_rolls_up_from_its_published_quarters(api: Api, world: World) -> None:
    ft, ns, lh = (world.objects[c] for c in ("ft", "ns", "lh"))
    cycles = await quarters(api, world)
    await published_plan(api, world, cycles["2026-Q1"], {ft: "80", ns: "70.5"})
    await published_plan(api, world, cycles["2026-Q2"], {ft: "90", ns: "71"})
    await published_plan(api, world, cycles["2026-Q3"], {ft: "85.5"})
    # Neither another framework lineage nor an unpublished plan counts for Q4.
    other = await api.receive_framework({**FRAMEWORK, "code": "other-lineage"})
    await published_plan(api, world, cycles["2026-Q4"], {ft: "10"}, framework_id=other.data["framework_id"])
    draft = await api.create_plan(world.city["id"], cycles["2026-Q4"], world.framework_id, [ft])
    await publish_rows(api, draft["id"], {ft: "20"}, status="objection")

    assert (await set_rollup(api, world, {"method": "mean"})).status_code == 200
    page = await api.ok("GET", f"/plans/{world.plan['id']}/rollup", params={"limit": 500})
    assert page["method"] == "mean" and page["sub_cycle_labels"] == list(QUARTERS)
    rows = {r["object_id"]: r for r in page["items"]}
    assert len(rows) == 6
    assert rows[ft]["composite"] == "85.17"  # (80 + 90 + 85.5) / 3 = 85.1666...
    assert [s["label"] for s in rows[ft]["sub_cycles"]] == ["2026-Q1", "2026-Q2", "2026-Q3"]
    assert rows[ft]["missing"] == ["2026-Q4"]
    assert rows[ns]["composite"] == "70.75" and rows[ns]["missing"] == ["2026-Q3", "2026-Q4"]
    assert rows[lh]["composite"] is None and rows[lh]["missing"] == list(QUARTERS)

    weights = {"2026-Q1": "1", "2026-Q2": "1", "2026-Q3": "2", "2026-Q4": "4"}
    assert (await set_rollup(api, world, {"method": "weighted", "weights": weights})).status_code == 200
    page = await api.ok("GET", f"/plans/{world.plan['id']}/rollup", params={"limit": 500})
    rows = {r["object_id"]: r for r in page["items"]}
    # The missing quarter's weight leaves the sum: (80 + 90 + 2 x 85.5) / 4.
    assert rows[ft]["composite"] == "85.25"
    # The SQL agrees with the reference function of the rule book for every object.
    for row in rows.values():
        composites = {s["label"]: Decimal(s["composite"]) for s in row["sub_cycles"]}
        expected = logic.rolled_composite(
            composites, method="weighted", weights={k: Decimal(v) for k, v in weights.items()}, places=2
        )
        assert row["composite"] == (None if expected is None else format(expected.normalize(), "f"))


async def test_a_rollup_page_shows_only_objects_in_scope_and_walks_by_cursor(api: Api, world: World) -> None:
    cycles = await quarters(api, world)
    await published_plan(api, world, cycles["2026-Q1"], {o: "60" for o in world.objects.values()})
    assert (await set_rollup(api, world, {"method": "mean"})).status_code == 200
    first = await api.ok("GET", f"/plans/{world.plan['id']}/rollup", params={"limit": 4})
    second = await api.ok(
        "GET", f"/plans/{world.plan['id']}/rollup", params={"limit": 4, "cursor": first["next_cursor"]}
    )
    assert len(first["items"]) == 4 and len(second["items"]) == 2 and second["next_cursor"] is None
    assert {r["composite"] for r in first["items"] + second["items"]} == {"60"}
    county = await api.ok("GET", f"/plans/{world.plan['id']}/rollup", headers=api.as_("department", "/gd/sz/ft"))
    assert [r["object_id"] for r in county["items"]] == [world.objects["ft"]]
    stranger = await api.call("GET", f"/plans/{world.plan['id']}/rollup", headers=api.as_("perf_office", "/gd/gz"))
    assert_problem(stranger, 404)


async def test_a_rollup_needs_a_valid_rule(api: Api, world: World) -> None:
    assert_problem(await api.call("GET", f"/plans/{world.plan['id']}/rollup"), 409)
    assert_problem(await set_rollup(api, world, {"method": "weighted"}), 422, "rollup")
    assert_problem(await set_rollup(api, world, {"method": "mean", "weights": {"2026-Q1": 1}}), 422, "rollup")
    assert_problem(await set_rollup(api, world, {"method": "weighted", "weights": {"Q1'; --": 1}}), 422)
    assert_problem(await set_rollup(api, world, {"method": "weighted", "weights": {"2026-Q1": 0}}), 422)
    assert_problem(await set_rollup(api, world, {"method": "median"}), 422, "method")
    assert_problem(await api.call("GET", f"/plans/{world.plan['id']}/rollup", params={"cursor": "%%%"}), 400)


# Monitoring


async def accepted(api: Api, county: str, object_id: str, metric: str, value: str) -> dict[str, Any]:
    point = await api.submit(county, object_id, value, metric=metric)
    verifier = api.as_("verifier", "/gd/sz", "verifier-city")
    for to, headers in (("verified", verifier), ("accepted", api.office)):
        answer = await api.call("POST", f"/data-points/{point['id']}/transitions", headers=headers, json={"to": to})
        assert answer.status_code == 200, answer.text
    return point


async def test_monitoring_lists_leaves_whose_progress_lags_the_time_elapsed(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.collecting(world)
    ft, ns = world.objects["ft"], world.objects["ns"]
    await accepted(api, "ft", ft, "E1", "300")  # 300 of 1,000 new jobs: 0.3
    await accepted(api, "ft", ft, "E2", "90")  # (90 - 50) / (95 - 50): 0.888889
    await accepted(api, "ns", ns, "E1", "900")  # 0.9
    await api.submit("ns", ns, "100", metric="E1")  # a newer revision, not accepted yet: 900 still counts
    path = f"/plans/{world.plan['id']}/monitoring"
    as_of = "2026-07-02"  # 182 of 365 days behind us
    page = await api.ok("GET", path, params={"as_of": as_of, "limit": 500})
    assert page["elapsed_share"] == "0.49863" and page["tolerance"] == "0.1"
    lagging = {(r["object_id"], r["indicator_code"]): r for r in page["items"]}
    others = [o for c, o in world.objects.items() if c not in ("ft", "ns")]
    assert set(lagging) == {(ft, "E1"), (ns, "E2")} | {(o, code) for o in others for code in ("E1", "E2")}
    assert lagging[(ft, "E1")]["attainment"] == "0.3" and lagging[(ft, "E1")]["lag"] == "0.19863"
    assert lagging[(ns, "E2")]["value"] is None and lagging[(ns, "E2")]["attainment"] == "0"
    # The SQL agrees with the reference function.
    elapsed = logic.elapsed_share(dt.date(2026, 1, 1), dt.date(2026, 12, 31), dt.date(2026, 7, 2))
    share = logic.attainment(
        method="target_ratio",
        direction="higher_better",
        scoring={"cap": "1.2"},
        value=Decimal(300),
        target=Decimal(1000),
        baseline=Decimal(900),
    )
    assert share is not None and logic.lags(share, elapsed, Decimal("0.1"))
    assert Decimal(lagging[(ft, "E1")]["lag"]) == logic.round_half_up(elapsed - share, 6)
    # A wider tolerance forgives ft's jobs; the walk by cursor sees every row once.
    wide = await api.ok("GET", path, params={"as_of": as_of, "tolerance": "0.2", "limit": 500})
    assert (ft, "E1") not in {(r["object_id"], r["indicator_code"]) for r in wide["items"]}
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"as_of": as_of, "limit": 3} | ({"cursor": cursor} if cursor else {})
        step = await api.ok("GET", path, params=params)
        seen += [(r["object_id"], r["indicator_code"]) for r in step["items"]]
        cursor = step["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(lagging)
    # Objects are read a chunk at a time: chunks smaller than a page, and pages ending mid-chunk,
    # give the same rows.
    monkeypatch.setattr(rollup_service, "MONITORING_CHUNK_OBJECTS", 2)
    for limit in (1, 3, 500):
        walked, cursor = [], None
        while True:
            params = {"as_of": as_of, "limit": limit} | ({"cursor": cursor} if cursor else {})
            step = await api.ok("GET", path, params=params)
            walked += [(r["object_id"], r["indicator_code"]) for r in step["items"]]
            cursor = step["next_cursor"]
            if cursor is None:
                break
        assert walked == seen, limit
    # Early in the year nothing lags yet; a county sees only itself.
    assert (await api.ok("GET", path, params={"as_of": "2026-01-10"}))["items"] == []
    county = await api.ok("GET", path, params={"as_of": as_of}, headers=api.as_("department", "/gd/sz/ft"))
    assert {r["object_id"] for r in county["items"]} == {ft}


async def test_monitoring_is_for_collecting_plans_with_bounded_inputs(api: Api, world: World) -> None:
    path = f"/plans/{world.plan['id']}/monitoring"
    assert_problem(await api.call("GET", path), 409)
    assert_problem(await api.call("GET", path, params={"tolerance": "2"}), 422, "tolerance")
    assert_problem(await api.call("GET", path, params={"tolerance": "NaN"}), 422, "tolerance")
    assert_problem(await api.call("GET", path, params={"as_of": "someday"}), 422, "as_of")
    assert_problem(await api.call("GET", path, params={"cursor": "AAAA"}), 400, "cursor")
    assert_problem(await api.call("GET", path, headers=api.as_("expert", "/gd/gz")), 403)
