"""Drafts and their indicators through the REST API: create, read, list, update, delete, idempotency."""

import uuid

from tests.indicator_svc.api.support import BASE, ORG_UNIT, SMALL_INDICATORS, SZ, assert_problem


async def test_create_draft_answers_201_with_location_and_etag(client, api):
    r = await client.post(
        BASE,
        json={
            "code": "CITY",
            "name": "City framework",
            "org_unit_id": ORG_UNIT,
            "org_path": SZ,
            "total_points": "120.5",
        },
        headers=api.office,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"{BASE}/{created['id']}"
    assert r.headers["etag"] == '"1"'
    assert created["status"] == "draft" and created["version"] == 1 and created["lock_version"] == 1
    assert created["code"] == "CITY" and created["org_path"] == SZ and created["created_by"] == "office-sz"
    assert created["content_hash"] is None and created["published_at"] is None
    assert float(created["total_points"]) == 120.5

    read = await client.get(r.headers["location"], headers=api.office)
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    # The stored Numeric(12,4) reads back as 120.5000: same number, maybe another spelling.
    assert read.json() | {"total_points": None} == created | {"total_points": None}
    assert float(read.json()["total_points"]) == 120.5
    assert await api.indicators(created["id"]) == []


async def test_unknown_framework_is_404(client, api):
    assert_problem(await client.get(f"{BASE}/{uuid.uuid4()}", headers=api.office), 404)


async def test_list_pages_with_limit_and_cursor(client, api):
    scope = "/gd/sz/paging"
    created = [(await api.create(org_path=scope))["id"] for _ in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, "org_path": scope} | ({"cursor": cursor} if cursor else {})
        r = await client.get(BASE, params=params, headers=api.office)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [f["id"] for f in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == created  # every draft once, in creation (UUIDv7) order

    r = await client.get(BASE, params={"limit": 5, "org_path": scope}, headers=api.office)
    assert [f["id"] for f in r.json()["items"]] == created and r.json()["next_cursor"] is None


async def test_list_limit_is_capped(client, api):
    assert_problem(await client.get(BASE, params={"limit": 501}, headers=api.office), 422, "limit")
    assert_problem(await client.get(BASE, params={"limit": 0}, headers=api.office), 422, "limit")
    assert (await client.get(BASE, params={"limit": 500}, headers=api.office)).status_code == 200


async def test_batch_read_by_ids_returns_only_those(client, api):
    a, b, c = [(await api.create())["id"] for _ in range(3)]
    ids = ",".join([a, c, str(uuid.uuid4())])
    r = await client.get(BASE, params={"ids": ids}, headers=api.office)
    assert r.status_code == 200, r.text
    assert sorted(f["id"] for f in r.json()["items"]) == sorted([a, c])
    assert b not in {f["id"] for f in r.json()["items"]}


async def test_list_filters_by_status_code_org_path_and_lineage(client, api):
    draft = await api.create(code="FILTER-A", org_path="/gd/sz/futian")
    other = await api.create(code="FILTER-B", org_path="/gd/sz/nanshan")
    published = await api.create_small(code="FILTER-P", org_path="/gd/sz/futian")
    await api.published(published["id"])

    assert await api.list_ids(code="FILTER-A") == [draft["id"]]
    assert set(await api.list_ids(org_path="/gd/sz/futian")) == {draft["id"], published["id"]}
    assert await api.list_ids(org_path="/gd/sz/nanshan") == [other["id"]]
    assert await api.list_ids(org_path="/gd/sz/futian", status="published") == [published["id"]]
    assert await api.list_ids(org_path="/gd/sz/futian", status="draft") == [draft["id"]]
    assert await api.list_ids(lineage_id=other["lineage_id"]) == [other["id"]]
    assert_problem(await client.get(BASE, params={"status": "frozen"}, headers=api.office), 422, "status")


async def test_patch_needs_the_current_version(client, api):
    framework = await api.create(name="Before")
    url = f"{BASE}/{framework['id']}"

    r = await client.patch(
        url, json={"name": "After", "description": "Changed"}, headers={**api.office, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"' and r.json()["lock_version"] == 2 and r.json()["name"] == "After"

    stale = await client.patch(url, json={"name": "Lost update"}, headers={**api.office, "If-Match": '"1"'})
    assert_problem(stale, 412)
    assert stale.headers["etag"] == '"2"'  # the version to reload
    assert_problem(await client.patch(url, json={"name": "Lost update", "version": 1}, headers=api.office), 412)
    assert_problem(await client.patch(url, json={"name": "x"}, headers={**api.office, "If-Match": "abc"}), 412)
    # Blind overwrites are refused: no If-Match, If-Match: *, or a weak tag.
    blind = await client.patch(url, json={"name": "Blind"}, headers=api.office)
    assert_problem(blind, 428, "If-Match")
    assert_problem(await client.patch(url, json={"name": "x"}, headers={**api.office, "If-Match": "*"}), 428)
    assert_problem(await client.patch(url, json={"name": "x"}, headers={**api.office, "If-Match": 'W/"2"'}), 412)
    assert (await api.get(framework["id"]))["name"] == "After"

    r = await client.patch(url, json={"total_points": 90, "version": 2}, headers=api.office)
    assert r.status_code == 200, r.text
    read = await api.get(framework["id"])
    assert read["name"] == "After" and read["description"] == "Changed"
    assert float(read["total_points"]) == 90 and read["lock_version"] == 3


async def test_patch_policy_is_stored(client, api):
    framework = await api.create()
    policy = {
        "min_public_satisfaction_share": "0.3",
        "max_category_share": {"economic": "0.5"},
        "min_external_evaluation_share": None,
    }
    r = await client.patch(
        f"{BASE}/{framework['id']}", json={"policy": policy}, headers=api.office | await api.if_match(framework["id"])
    )
    assert r.status_code == 200, r.text
    stored = (await api.get(framework["id"]))["policy"]
    assert float(stored["min_public_satisfaction_share"]) == 0.3
    assert float(stored["max_category_share"]["economic"]) == 0.5
    assert stored["min_external_evaluation_share"] is None


async def test_delete_draft(client, api):
    framework = await api.create_small()
    url = f"{BASE}/{framework['id']}"
    assert_problem(await client.delete(url, headers={**api.office, "If-Match": '"1"'}), 412)
    assert_problem(await client.delete(url, headers=api.office), 428)
    assert (await api.get(framework["id"]))["id"] == framework["id"]

    r = await client.delete(url, headers={**api.office, "If-Match": f'"{framework["lock_version"]}"'})
    assert r.status_code == 204, r.text
    assert_problem(await client.get(url, headers=api.office), 404)
    assert_problem(await client.get(f"{url}/indicators", headers=api.office), 404)
    assert framework["id"] not in await api.list_ids()
    assert_problem(await client.delete(url, headers={**api.office, "If-Match": '"4"'}), 404)


async def test_indicator_tree_is_built_and_read_back(client, api):
    framework = await api.create_small()
    items = await api.indicators(framework["id"])
    assert [(i["code"], i["parent_code"], i["level"], i["position"]) for i in items] == [
        ("S", None, 1, 0),
        ("S1", "S", 2, 1),
        ("S2", "S", 2, 2),
    ]
    s2 = items[2]
    assert s2["kind"] == "satisfaction" and s2["evaluation_subjects"] == ["public"]
    assert s2["scoring"]["method"] == "satisfaction" and float(s2["scoring"]["full_index"]) == 95
    assert s2["framework_id"] == framework["id"]
    # Each indicator write bumps the framework's version (the ETag).
    assert framework["lock_version"] == 4

    r = await client.get("/api/v1/indicators", params={"framework_ids": framework["id"]}, headers=api.office)
    assert r.status_code == 200 and [i["code"] for i in r.json()["items"]] == ["S", "S1", "S2"]


async def test_add_indicator_refuses_duplicates_unknown_parents_and_stale_versions(client, api):
    framework = await api.create_small()
    fid = framework["id"]
    assert_problem(await api.add(fid, {"code": "S1", "name": "Again", "weight": 1, "parent_code": "S"}), 409)
    assert_problem(
        await api.add(fid, {"code": "S9", "name": "Orphan", "weight": 1, "parent_code": "NOPE"}), 422, "parent_code"
    )
    assert_problem(await api.add(fid, {"code": "S9", "name": "Stale", "weight": 1, "version": 1}), 412)
    r = await api.add(fid, {"code": "S9", "name": "Fresh", "weight": 1, "version": framework["lock_version"]})
    assert r.status_code == 201, r.text
    assert [i["code"] for i in await api.indicators(fid)] == ["S", "S1", "S2", "S9"]


async def test_replace_indicator_renames_and_keeps_children(client, api):
    framework = await api.create_small()
    fid = framework["id"]
    r = await client.put(
        f"{BASE}/{fid}/indicators/S",
        headers=api.office | await api.if_match(fid),
        json={
            "code": "SOC",
            "name": "Social progress",
            "weight": 100,
            "category": "social",
            "legal_basis": "Provincial regulation 12",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["code"] == "SOC" and r.json()["level"] == 1
    items = {i["code"]: i for i in await api.indicators(fid)}
    assert set(items) == {"SOC", "S1", "S2"}
    assert items["S1"]["parent_code"] == "SOC" and items["S2"]["parent_code"] == "SOC"
    assert items["SOC"]["name"] == "Social progress" and items["SOC"]["legal_basis"] == "Provincial regulation 12"
    assert items["SOC"]["position"] == 0  # still first
    valid = (await client.get(f"{BASE}/{fid}/validation", headers=api.office)).json()
    assert valid == {"valid": True, "problems": []}


async def test_replace_indicator_conflicts_and_unknowns(client, api):
    framework = await api.create_small()
    url = f"{BASE}/{framework['id']}/indicators"
    body = {"code": "S1", "name": "Employment", "weight": 80, "parent_code": "S"}
    h = api.office | await api.if_match(framework["id"])
    assert_problem(await client.put(f"{url}/S2", json=body, headers=h), 409)  # S1 is taken
    assert_problem(await client.put(f"{url}/NOPE", json=body, headers=h), 404)
    assert_problem(await client.put(f"{url}/S1", json={**body, "parent_code": "GONE"}, headers=h), 422, "parent_code")
    assert_problem(await client.put(f"{url}/S1", json={**body, "parent_code": "S1"}, headers=h), 422, "parent_code")
    assert_problem(await client.put(f"{url}/S1", json={**body, "version": 1}, headers=api.office), 412)
    assert_problem(await client.put(f"{url}/S1", json=body, headers=api.office), 428)
    assert [i["name"] for i in await api.indicators(framework["id"])][1] == "Employment rate"


async def test_delete_indicator_with_and_without_cascade(client, api):
    framework = await api.create_small()
    fid = framework["id"]
    assert (
        await api.add(fid, {"code": "S1.1", "parent_code": "S1", "name": "Youth employment", "weight": 80})
    ).status_code == 201
    url = f"{BASE}/{fid}/indicators"

    assert_problem(await client.delete(f"{url}/S", headers=api.office | await api.if_match(fid)), 409)
    assert [i["code"] for i in await api.indicators(fid)] == ["S", "S1", "S2", "S1.1"]

    assert (await client.delete(f"{url}/S2", headers=api.office | await api.if_match(fid))).status_code == 204
    assert [i["code"] for i in await api.indicators(fid)] == ["S", "S1", "S1.1"]
    assert_problem(await client.delete(f"{url}/S2", headers=api.office | await api.if_match(fid)), 404)

    assert (
        await client.delete(f"{url}/S", params={"cascade": "true"}, headers=api.office | await api.if_match(fid))
    ).status_code == 204
    assert await api.indicators(fid) == []


async def test_indicators_added_after_a_deletion_keep_a_stable_order(client, api):
    framework = await api.create_small()
    fid = framework["id"]
    assert (
        await client.delete(f"{BASE}/{fid}/indicators/S1", headers=api.office | await api.if_match(fid))
    ).status_code == 204
    for code in ("S3", "S4"):
        assert (await api.add(fid, {"code": code, "parent_code": "S", "name": code, "weight": 1})).status_code == 201
    items = await api.indicators(fid)
    assert [i["code"] for i in items] == ["S", "S2", "S3", "S4"]
    positions = [i["position"] for i in items]
    assert positions == sorted(set(positions))  # unique, so display order (and content_hash) is well defined


async def test_idempotency_key_replays_the_first_answer(client, api):
    body = {"code": "IDEM", "name": "Idempotent", "org_unit_id": ORG_UNIT, "org_path": SZ}
    headers = {**api.office, "Idempotency-Key": "create-idem-1"}
    first = await client.post(BASE, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    again = await client.post(BASE, json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert await api.list_ids(code="IDEM") == [first.json()["id"]]

    other = await client.post(BASE, json={**body, "name": "Something else"}, headers=headers)
    assert_problem(other, 409)
    assert await api.list_ids(code="IDEM") == [first.json()["id"]]

    # Keys belong to the caller: another user's identical key is a new request.
    someone = {**api.auth("perf_office", org_path=SZ, subject="office-sz-2"), "Idempotency-Key": "create-idem-1"}
    r = await client.post(BASE, json={**body, "code": "IDEM-2"}, headers=someone)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


async def test_without_idempotency_key_a_repeat_is_a_conflict(client, api):
    body = {"code": "TWICE", "name": "Twice", "org_unit_id": ORG_UNIT, "org_path": SZ}
    assert (await client.post(BASE, json=body, headers=api.office)).status_code == 201
    assert_problem(await client.post(BASE, json=body, headers=api.office), 409)
    assert len(await api.list_ids(code="TWICE")) == 1


async def test_health_endpoints_answer_without_a_token(client):
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text


async def test_indicator_writes_answer_the_frameworks_new_etag(client, api):
    """A client adds, replaces and deletes indicators in a row with the ETag of each answer, no rereads."""
    framework = await api.create()
    url = f"{BASE}/{framework['id']}/indicators"
    tag = '"1"'
    for body in SMALL_INDICATORS:
        r = await client.post(url, json=body, headers={**api.office, "If-Match": tag})
        assert r.status_code == 201, r.text
        assert r.headers["etag"] != tag
        tag = r.headers["etag"]
    r = await client.put(
        f"{url}/S1", json={**SMALL_INDICATORS[1], "name": "Jobs"}, headers={**api.office, "If-Match": tag}
    )
    assert r.status_code == 200, r.text
    r = await client.delete(f"{url}/S2", headers={**api.office, "If-Match": r.headers["etag"]})
    assert r.status_code == 204, r.text
    assert r.headers["etag"] == f'"{(await api.get(framework["id"]))["lock_version"]}"'
