"""Public results, no token: only published plans exist there; league tables per peer group,
explain trees without internal references, CSV and xlsx downloads, rulings without filers, and
answers a cache can keep (strong ETag, 304)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx
from openpyxl import load_workbook
from sqlalchemy import text

from shared.pagination import encode_cursor
from tests.appraisal_svc.api.results_support import (
    E1_VALUES,
    default_composites,
    finish_publication,
    insert_run,
    publish,
    request_publication,
    to_objection,
)
from tests.appraisal_svc.api.support import PROBLEM_JSON, Api, World, assert_problem

URBAN, RURAL = ("ft", "ns", "lh"), ("bx", "lg", "yt")


async def public(api: Api, path: str, **kwargs: Any) -> httpx.Response:
    return await api.client.get(f"/public/plans{path}", **kwargs)


async def split_peer_groups(api: Api, world: World) -> None:
    """Urban and rural counties compete in their own peer groups (set while the plan is a draft)."""
    objects = [{"object_id": world.objects[c], "peer_group": "urban" if c in URBAN else "rural"} for c in E1_VALUES]
    await api.ok(
        "PATCH", f"/plans/{world.plan['id']}", json={"objects": objects}, headers={**api.office, "If-Match": '"1"'}
    )


async def objected_and_ruled(api: Api, world: World) -> dict[str, Any]:
    """In the objection period with one dismissed objection; returns the ruled objection."""
    await to_objection(api, world)
    filed = await api.call(
        "POST",
        f"/plans/{world.plan['id']}/objections",
        headers=api.as_("department", "/gd/sz/ft", "clerk-ft"),
        json={"object_id": world.objects["ft"], "indicator_code": "E1", "reason": "Private remark of the clerk."},
    )
    assert filed.status_code == 201, filed.text
    ruled = await api.call(
        "POST",
        f"/plans/{world.plan['id']}/objections/{filed.json()['id']}/ruling",
        headers={**api.office, "If-Match": '"1"'},
        json={"decision": "dismissed", "reason": "The Q4 count was verified and used."},
    )
    assert ruled.status_code == 200, ruled.text
    return dict(ruled.json())


def routes(world: World) -> list[str]:
    p, ft = world.plan["id"], world.objects["ft"]
    return [
        f"/{p}",
        f"/{p}/results",
        f"/{p}/results/{ft}",
        f"/{p}/results.csv",
        f"/{p}/results.xlsx",
        f"/{p}/objections",
        f"/{p}/versions/1/objects",
    ]


async def test_every_public_route_is_missing_until_the_plan_is_published(api: Api, world: World):
    await objected_and_ruled(api, world)  # scored, reviewed, objected to: still not public
    for path in routes(world):
        response = await public(api, path)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert "No such published plan" in response.json()["detail"]
    assert world.plan["id"] not in {p["id"] for p in (await public(api, "")).json()["items"]}
    await publish(api, world)
    for path in routes(world):
        response = await public(api, path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["cache-control"] == "public, max-age=60" and response.headers["etag"].startswith('"')
    listed = (await public(api, "")).json()["items"]
    assert [(p["id"], p["result_version"]) for p in listed if p["id"] == world.plan["id"]] == [(world.plan["id"], 1)]
    assert (await public(api, f"/{uuid.uuid4()}")).status_code == 404
    assert (await public(api, f"/{world.plan['id']}/results/{uuid.uuid4()}")).status_code == 404


async def test_the_published_plan_states_its_framework_version_and_rulings(api: Api, world: World):
    ruled = await objected_and_ruled(api, world)
    await publish(api, world)
    plan = (await public(api, f"/{world.plan['id']}")).json()
    assert plan["framework_id"] == world.framework_id and plan["framework_hash"] == world.framework_hash
    assert plan["cycle"]["label"] == "2026" and plan["result_version"] == 1 and plan["object_count"] == 6
    assert plan["hash_rules"] == 2  # which rules anyone recomputing results_hash follows
    assert [g["grade"] for g in plan["grade_scheme"]["grades"]] == ["A", "B", "C", "D"]
    assert plan["rulings"] == {"filed": 1, "upheld": 0, "dismissed": 1}
    rulings = (await public(api, f"/{world.plan['id']}/objections")).json()["items"]
    assert [(r["id"], r["decision"], r["ruling_reason"]) for r in rulings] == [
        (ruled["id"], "dismissed", "The Q4 count was verified and used.")
    ]
    # Who filed it, and what the filer wrote, stay internal.
    raw = json.dumps(rulings)
    assert "clerk-ft" not in raw and "Private remark" not in raw and "filed_by" not in raw


async def test_the_league_table_ranks_within_each_peer_group_and_pages(api: Api, world: World):
    await split_peer_groups(api, world)
    await objected_and_ruled(api, world)
    await publish(api, world)
    url = f"/{world.plan['id']}/results"
    seen, cursor = [], None
    while True:
        page = (await public(api, url, params={"limit": 2} | ({"cursor": cursor} if cursor else {}))).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    name = {v: k for k, v in world.objects.items()}
    table = [(r["peer_group"], name[r["object_id"]], r["rank"], r["peer_count"]) for r in seen]
    tied = sorted(["lh", "ns"], key=lambda c: world.objects[c])  # same rank: by object id
    assert table == [
        ("rural", "bx", 1, 3),
        ("rural", "lg", 2, 3),
        ("rural", "yt", 3, 3),
        ("urban", tied[0], 1, 3),
        ("urban", tied[1], 1, 3),
        ("urban", "ft", 3, 3),
    ]
    rural = (await public(api, url, params={"peer_group": "rural"})).json()["items"]
    assert {name[r["object_id"]] for r in rural} == set(RURAL)
    assert (await public(api, url, params={"peer_group": "no group"})).status_code == 422
    assert (await public(api, url, params={"cursor": "garbage!"})).status_code == 400
    # One peer group a row at a time: the same rows as in one page; a cursor of no row of the table is refused.
    walked, cursor = [], None
    while True:
        params: dict[str, Any] = {"peer_group": "urban", "limit": 1} | ({"cursor": cursor} if cursor else {})
        step = (await public(api, url, params=params)).json()
        walked += [r["object_id"] for r in step["items"]]
        cursor = step["next_cursor"]
        if cursor is None:
            break
    assert walked == [r["object_id"] for r in seen if r["peer_group"] == "urban"]
    foreign = encode_cursor(uuid.uuid4())
    assert_problem(await public(api, url, params={"cursor": foreign}), 400, "cursor")
    assert all(len(r["subject_scores"]) == 3 for r in seen)


async def test_the_public_explain_tree_is_the_internal_one_without_internal_references(api: Api, world: World):
    await objected_and_ruled(api, world)
    # A note and an evidence-free submitter on the accepted value: neither may show in public.
    await api.db.execute(
        text("UPDATE appraisal.data_point SET notes = 'call Mr Wang first', submitted_by = 'clerk-secret'")
    )
    await api.db.commit()
    await publish(api, world)
    ft = world.objects["ft"]
    tree = (await public(api, f"/{world.plan['id']}/results/{ft}")).json()
    internal = await api.ok("GET", f"/plans/{world.plan['id']}/results/{ft}")

    def without_points(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: without_points(v) for k, v in node.items() if k not in ("data_point_id", "run_id")}
        if isinstance(node, list):
            return [without_points(v) for v in node]
        return node

    assert tree == without_points(internal)
    raw = json.dumps(tree)
    assert "data_point_id" not in raw and "Mr Wang" not in raw and "clerk-secret" not in raw
    leaves = {leaf["indicator_code"]: leaf for s in tree["subjects"] for leaf in s["leaves"]}
    assert (leaves["E1"]["value"], leaves["E1"]["target"], leaves["E1"]["earned"]) == ("900", "1000", "27")


async def test_answers_carry_a_strong_etag_and_a_matching_request_gets_304(api: Api, world: World):
    await objected_and_ruled(api, world)
    plan = await publish(api, world)
    path = f"/{world.plan['id']}"
    first = await public(api, path)
    etag = first.headers["etag"]
    assert not etag.startswith("W/")
    again = await public(api, path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=60"
    assert (await public(api, path, headers={"If-None-Match": '"other", ' + etag})).status_code == 304
    assert (await public(api, path, headers={"If-None-Match": '"other"'})).status_code == 200
    pages = [(await public(api, f"{path}/results", params={"limit": n})).headers["etag"] for n in (2, 3)]
    assert len(set(pages)) == 2  # each page its own validator
    csv_etag = (await public(api, f"{path}/results.csv")).headers["etag"]
    assert (await public(api, f"{path}/results.csv", headers={"If-None-Match": csv_etag})).status_code == 304
    # A newer published version is a new representation: the old validator no longer matches.
    await insert_run(api.db, world.plan["id"], default_composites(world), version=2)
    republished = await request_publication(
        api, world.plan["id"], {**api.office, "If-Match": f'"{plan["lock_version"]}"'}
    )
    assert republished.status_code == 202, republished.text
    assert (await finish_publication(api, world.plan["id"], republished.json()["id"]))["status"] == "succeeded"
    fresh = await public(api, path, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["result_version"] == 2 and fresh.headers["etag"] != etag


async def test_downloads_hold_the_whole_table_and_never_a_formula(api: Api, world: World):
    await split_peer_groups(api, world)
    await objected_and_ruled(api, world)
    await api.db.execute(
        text("UPDATE appraisal.appraisal_object SET name = '=HYPERLINK(\"http://evil\")' WHERE id = :id"),
        {"id": world.objects["yt"]},
    )
    await api.db.commit()
    await publish(api, world)
    response = await public(api, f"/{world.plan['id']}/results.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="results-{world.plan["id"]}-v1.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 6
    assert list(rows[0])[-3:] == ["score_experts", "score_performance_office", "score_public"]
    by_object = {r["object_id"]: r for r in rows}
    assert by_object[world.objects["yt"]]["name"] == '\'=HYPERLINK("http://evil")'
    assert (by_object[world.objects["ns"]]["rank"], by_object[world.objects["ns"]]["peer_group"]) == ("1", "urban")
    table = (await public(api, f"/{world.plan['id']}/results")).json()["items"]
    assert [r["object_id"] for r in rows] == [r["object_id"] for r in table]
    assert {r["object_id"]: r["composite"] for r in rows} == {r["object_id"]: r["composite"] for r in table}

    book = await public(api, f"/{world.plan['id']}/results.xlsx")
    sheet = load_workbook(io.BytesIO(book.content), read_only=True)["results"]
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0][:3] == ["peer_group", "rank", "peer_count"] and len(cells) == 7
    names = {row[3]: row[4] for row in cells[1:]}
    assert names[world.objects["yt"]] == '\'=HYPERLINK("http://evil")'
