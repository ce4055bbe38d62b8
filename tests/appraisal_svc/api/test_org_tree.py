"""The org tree: import all or nothing, kind rules, moves that rewrite a subtree, objects in one
id space, events for the gateway, and scope."""

from sqlalchemy import text

from tests.appraisal_svc.api.support import Api, World, assert_problem


async def outbox_events(api: Api, event_type: str) -> list[dict]:
    rows = await api.db.execute(
        text("SELECT envelope FROM appraisal.outbox WHERE envelope->>'type' = :t ORDER BY created_at"),
        {"t": event_type},
    )
    return [r.envelope for r in rows]


async def test_a_csv_import_with_errors_stores_nothing_and_names_row_and_column(api: Api):
    csv = (
        "org_path,name,kind\n"
        "/zj,Zhejiang,province\n"
        "/zj/hz,Hangzhou,city\n"
        "/zj/hz/x/y,Orphan,township\n"  # parent /zj/hz/x missing
        "/zj/nb,Ningbo,department\n"  # a department under a province is fine...
        "/zj/nb/q,Q,county\n"  # ... but nothing sits under a department
        "/zj/hz/Bad,Bad,county\n"  # uppercase is not a path segment
    )
    r = await api.call("POST", "/org-units/import", headers={**api.admin, "Content-Type": "text/csv"}, content=csv)
    body = assert_problem(r, 422, "org_path")
    rows = {(e["row"], e["field"]) for e in body["errors"]}
    assert (7, "org_path") in rows  # the bad path, validated first
    assert body["detail"].endswith("nothing was stored.")
    listed = await api.ok("GET", "/org-units", headers=api.admin, params={"under": "/zj"})
    assert listed["items"] == []

    fixed = csv.replace("/zj/hz/Bad,Bad,county\n", "")
    r = await api.call("POST", "/org-units/import", headers={**api.admin, "Content-Type": "text/csv"}, content=fixed)
    body = assert_problem(r, 422)
    assert {(e["row"], e["field"]) for e in body["errors"]} == {(4, "org_path"), (6, "kind")}


async def test_moving_a_unit_rewrites_its_subtree_and_announces_every_changed_unit(api: Api, world: World):
    ft = world.counties["ft"]
    r = await api.call("PATCH", f"/org-units/{ft['id']}", headers=api.admin, json={"code": "futian"})
    assert_problem(r, 428, "If-Match")
    r = await api.call(
        "PATCH", f"/org-units/{ft['id']}", headers={**api.admin, "If-Match": '"9"'}, json={"code": "futian"}
    )
    assert_problem(r, 412)
    r = await api.call(
        "PATCH", f"/org-units/{ft['id']}", headers={**api.admin, "If-Match": '"1"'}, json={"code": "futian"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["org_path"] == "/gd/sz/futian" and r.headers["etag"] == '"2"'
    department = await api.ok("GET", f"/org-units/{world.department['id']}", headers=api.admin)
    assert department["org_path"] == "/gd/sz/futian/edu"
    changed = {e["data"]["org_path"] for e in await outbox_events(api, "appraisal.orgunit.changed")}
    assert {"/gd/sz/futian", "/gd/sz/futian/edu"} <= changed
    event = next(
        e for e in await outbox_events(api, "appraisal.orgunit.changed") if e["data"]["org_path"] == "/gd/sz/futian"
    )
    assert event["subject"] == ft["id"]
    assert set(event["data"]) == {"id", "code", "name", "kind", "parent_id", "org_path", "deleted"}

    # Moving a county under a province breaks no rule; under its own department it would.
    r = await api.call(
        "PATCH",
        f"/org-units/{ft['id']}",
        headers={**api.admin, "If-Match": '"2"'},
        json={"parent_id": world.department["id"]},
    )
    assert_problem(r, 422, "parent_id")
    r = await api.call("PATCH", f"/org-units/{ft['id']}", headers={**api.admin, "If-Match": '"2"'}, json={"code": "ns"})
    assert_problem(r, 409)


async def test_objects_share_the_unit_id_space_and_need_a_matching_unit(api: Api, world: World):
    assert world.objects["ft"] == world.counties["ft"]["id"]
    official = await api.ok(
        "POST",
        "/objects",
        201,
        json={"kind": "official", "org_unit_id": world.counties["ft"]["id"], "code": "mayor", "name": "Mayor"},
    )
    assert official["peer_group"] == "official" and official["org_path"] == "/gd/sz/ft"
    r = await api.call("POST", "/objects", json={"kind": "department", "org_unit_id": world.counties["ns"]["id"]})
    assert_problem(r, 422, "kind")
    r = await api.call("POST", "/objects", json={"kind": "project", "org_unit_id": world.counties["ns"]["id"]})
    assert_problem(r, 422, "code", "name")
    r = await api.call("POST", "/objects", json={"kind": "government", "org_unit_id": world.counties["ns"]["id"]})
    assert_problem(r, 409)
    batch = await api.ok("GET", "/objects", params={"ids": f"{official['id']},{world.objects['ns']}"})
    assert {o["id"] for o in batch["items"]} == {official["id"], world.objects["ns"]}


async def test_scope_hides_other_counties_and_forbids_writing_above(api: Api, world: World):
    county = api.as_("perf_office", "/gd/sz/ft")
    r = await api.call("GET", f"/org-units/{world.counties['ns']['id']}", headers=county)
    assert_problem(r, 404)
    r = await api.call("GET", f"/objects/{world.objects['ns']}", headers=county)
    assert_problem(r, 404)
    listed = await api.ok("GET", "/org-units", headers=county)
    assert {u["org_path"] for u in listed["items"]} == {"/gd/sz/ft", "/gd/sz/ft/edu"}
    r = await api.call(
        "POST",
        "/org-units",
        headers=county,
        json={"code": "x", "name": "X", "kind": "county", "parent_id": world.city["id"]},
    )
    assert_problem(r, 422, "parent_id")  # the city is outside the county's scope: as if it did not exist
    r = await api.call(
        "POST",
        "/org-units",
        headers=api.as_("department", "/gd/sz"),
        json={"code": "x", "name": "X", "kind": "province"},
    )
    assert_problem(r, 403)


async def test_deleting_a_unit_with_children_is_refused_and_a_leaf_unit_is_kept_as_deleted(api: Api, world: World):
    ft = world.counties["ft"]
    r = await api.call("DELETE", f"/org-units/{ft['id']}", headers={**api.admin, "If-Match": '"1"'})
    assert_problem(r, 409)
    dept = world.department
    r = await api.call("DELETE", f"/org-units/{dept['id']}", headers={**api.admin, "If-Match": '"1"'})
    assert r.status_code == 204
    listed = await api.ok(
        "GET", "/org-units", headers=api.admin, params={"under": "/gd/sz/ft", "include_deleted": "true"}
    )
    assert any(u["deleted"] for u in listed["items"])
    events = await outbox_events(api, "appraisal.orgunit.changed")
    assert events[-1]["data"]["deleted"] is True


async def test_import_as_xlsx_and_json_items(api: Api):
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["org_path", "name", "kind", "peer_group"])
    sheet.append(["/hn", "Hunan", "province", None])
    sheet.append(["/hn/cs", "Changsha", "city", "capital"])
    data = io.BytesIO()
    book.save(data)
    r = await api.call(
        "POST", "/org-units/import", headers=api.admin, params={"format": "xlsx"}, content=data.getvalue()
    )
    assert r.status_code == 201, r.text
    assert {(u["org_path"], u["peer_group"]) for u in r.json()["items"]} == {("/hn", "province"), ("/hn/cs", "capital")}
    r = await api.call(
        "POST", "/org-units/import", headers=api.admin, params={"format": "xlsx"}, content=b"not a workbook"
    )
    assert_problem(r, 422)


async def test_children_and_objects_of_many_units_in_one_call_stay_in_scope(api: Api, world: World):
    parents = [world.city["id"], world.counties["ft"]["id"], world.counties["ns"]["id"]]
    children = await api.ok("GET", "/org-units", params={"parent_ids": ",".join(parents), "limit": 500})
    assert {u["org_path"] for u in children["items"]} == {f"/gd/sz/{c}" for c in world.counties} | {"/gd/sz/ft/edu"}
    units = [world.counties["ft"]["id"], world.counties["ns"]["id"], world.department["id"]]
    objects = await api.ok("GET", "/objects", params={"org_unit_ids": ",".join(units)})
    assert {o["id"] for o in objects["items"]} == {world.objects["ft"], world.objects["ns"]}
    # Futian's department asks for Nanshan's objects and the city's children: only its own subtree.
    futian = api.as_("department", "/gd/sz/ft")
    assert (await api.ok("GET", "/objects", headers=futian, params={"org_unit_ids": ",".join(units)}))["items"] == [
        (await api.ok("GET", f"/objects/{world.objects['ft']}", headers=futian))
    ]
    seen = await api.ok("GET", "/org-units", headers=futian, params={"parent_ids": ",".join(parents)})
    assert sorted(u["org_path"] for u in seen["items"]) == ["/gd/sz/ft", "/gd/sz/ft/edu"]  # no sibling county
    assert_problem(await api.call("GET", "/org-units", params={"parent_ids": "x"}), 400, "parent_ids")
    assert_problem(
        await api.call("GET", "/objects", params={"org_unit_ids": ",".join(["x"] * 501)}), 400, "org_unit_ids"
    )
