"""Hostile input: every bad request is a 4xx problem+json naming the field, never a 500."""

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.indicator_svc.framework.content import IndicatorSpec
from services.indicator_svc.framework.schemas import FrameworkCreate
from tests.indicator_svc.api.support import BASE, ORG_UNIT, PROBLEM_JSON, SZ, assert_problem

VALID_FRAMEWORK = {"code": "BAD-INPUT", "name": "Bad input", "org_unit_id": ORG_UNIT, "org_path": SZ}
VALID_INDICATOR = {
    "code": "L1",
    "parent_code": None,
    "name": "Leaf",
    "weight": 10,
    "scoring": {"method": "target_ratio"},
    "evaluation_subjects": ["experts"],
}


def fields_of(body: dict) -> set[str]:
    """Named fields, without FastAPI's "path." / "query." / "header." location prefix."""
    return {
        e["field"].split(".", 1)[1] if e["field"].split(".")[0] in {"path", "query", "header"} else e["field"]
        for e in body.get("errors", [])
    }


async def test_malformed_json_is_a_422(client, api):
    for raw in (b'{"code": ', b"{'code': 'x'}", b"\xff\xfe", b"", b"null", b"[]", b'"text"', b"1e999999"):
        r = await client.post(BASE, content=raw, headers={**api.office, "Content-Type": "application/json"})
        assert_problem(r, 422)
    assert await api.list_ids() == []


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"code": 123}, "code"),
        ({"code": "has space"}, "code"),
        ({"code": "C" * 65}, "code"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"name": "bell\x07"}, "name"),
        ({"name": ["a list"]}, "name"),
        ({"description": "d" * 4001}, "description"),
        ({"description": "nul\x00byte"}, "description"),
        ({"org_unit_id": "not-a-uuid"}, "org_unit_id"),
        ({"org_path": "gd/sz"}, "org_path"),
        ({"org_path": "/GD/SZ"}, "org_path"),
        ({"org_path": "/gd//sz"}, "org_path"),
        ({"org_path": "/gd/sz/"}, "org_path"),
        ({"org_path": "/" + "/".join(["a"] * 13)}, "org_path"),
        ({"total_points": 0}, "total_points"),
        ({"total_points": -5}, "total_points"),
        ({"total_points": 1001}, "total_points"),
        ({"total_points": "1.00001"}, "total_points"),
        ({"total_points": "lots"}, "total_points"),
        ({"policy": "strict"}, "policy"),
        ({"policy": {"min_public_satisfaction_share": 1.5}}, "policy.min_public_satisfaction_share"),
        ({"policy": {"max_category_share": {"astrology": 0.1}}}, "policy.max_category_share.astrology.[key]"),
        ({"policy": {"surprise": 1}}, "policy.surprise"),
        ({"status": "published"}, "status"),
        ({"content_hash": "forged"}, "content_hash"),
    ],
)
async def test_create_framework_names_the_bad_field(client, api, patch, field):
    r = await client.post(BASE, json={**VALID_FRAMEWORK, **patch}, headers=api.office)
    body = assert_problem(r, 422)
    assert field in fields_of(body), body
    assert all(set(e) == {"field", "message", "type"} for e in body["errors"])  # the input is never echoed


async def test_missing_fields_are_named(client, api):
    body = assert_problem(await client.post(BASE, json={}, headers=api.office), 422)
    assert fields_of(body) == {"code", "name", "org_unit_id", "org_path"}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"weight": -1}, "weight"),
        ({"weight": 1000.5}, "weight"),
        ({"weight": "0.00001"}, "weight"),
        ({"weight": None}, "weight"),
        ({"weight": "NaN"}, "weight"),
        ({"weight": True}, "weight"),
        ({"code": "../etc"}, "code"),
        ({"parent_code": "with space"}, "parent_code"),
        ({"category": "astrology"}, "category"),
        ({"nature_tags": ["quality", "quality"]}, "nature_tags"),
        ({"nature_tags": ["shiny"]}, "nature_tags.0"),
        ({"kind": "magic"}, "kind"),
        ({"direction": "sideways"}, "direction"),
        ({"unit": "u" * 33}, "unit"),
        ({"evaluation_subjects": ["astrologers"]}, "evaluation_subjects.0"),
        ({"evaluation_subjects": "experts"}, "evaluation_subjects"),
        ({"formula": "f" * 501}, "formula"),
        ({"legal_basis": "tab\tok but escape \x1b not"}, "legal_basis"),
        ({"id": str(uuid.uuid4())}, "id"),
        ({"level": 1}, "level"),
        ({"version": 0}, "version"),
    ],
)
async def test_add_indicator_names_the_bad_field(client, api, patch, field):
    framework = await api.create()
    body = assert_problem(await api.add(framework["id"], {**VALID_INDICATOR, **patch}), 422)
    assert field in fields_of(body), body
    assert await api.indicators(framework["id"]) == []


@pytest.mark.parametrize(
    ("scoring", "field"),
    [
        ({"method": "telepathy"}, "scoring"),
        ({"cap": 1}, "scoring"),
        ({"method": "target_ratio", "cap": 0}, "scoring.target_ratio.cap"),
        ({"method": "target_ratio", "cap": 4}, "scoring.target_ratio.cap"),
        ({"method": "target_ratio", "floor": 1}, "scoring.target_ratio.floor"),
        ({"method": "linear"}, "scoring.linear.floor"),
        ({"method": "linear", "floor": 1e13}, "scoring.linear.floor"),
        ({"method": "bands", "bands": []}, "scoring.bands.bands"),
        (
            {"method": "bands", "bands": [{"threshold": 5, "share": 0.5}, {"threshold": 5, "share": 1}]},
            "scoring.bands.bands",
        ),
        ({"method": "bands", "bands": [{"threshold": 1, "share": 2}]}, "scoring.bands.bands.0.share"),
        ({"method": "rank", "floor_share": 1.5}, "scoring.rank.floor_share"),
        ({"method": "grade", "scale": "ABCD", "shares": {"A": 1, "B": 0.5}}, "scoring.grade.shares"),
        ({"method": "grade", "scale": "ABCD", "shares": {"A": 0, "B": 0, "C": 0, "D": 1}}, "scoring.grade.shares"),
        ({"method": "grade", "scale": "A-F", "shares": {}}, "scoring.grade.scale"),
        (
            {"method": "grade", "scale": "1-5", "shares": {"5": 1, "4": 1, "3": 1, "2": 1, "1": 0}, "trim_share": 0.5},
            "scoring.grade.trim_share",
        ),
        (
            {"method": "grade", "scale": "1-5", "shares": {"5": 1, "4": 1, "3": 1, "2": 1, "1": 0}, "min_raters": 0},
            "scoring.grade.min_raters",
        ),
        ({"method": "linear", "floor_from": "baseline", "floor": 3}, "scoring.linear.floor"),
        ({"method": "veto", "events": ["data fraud"], "cap_grade": "C"}, "scoring.veto.events.0"),
        ({"method": "veto", "events": ["fraud "], "cap_grade": "C"}, "scoring.veto.events.0"),
        ({"method": "deduction", "per_item": 0, "cap": 5}, "scoring.deduction.per_item"),
        ({"method": "deduction", "per_item": 1}, "scoring.deduction.cap"),
        ({"method": "bonus", "per_item": 1, "cap": 2000}, "scoring.bonus.cap"),
        ({"method": "satisfaction", "zero_index": 90, "full_index": 80}, "scoring.satisfaction"),
        ({"method": "satisfaction", "full_index": 101}, "scoring.satisfaction.full_index"),
        ({"method": "veto", "events": [], "cap_grade": "C"}, "scoring.veto.events"),
        ({"method": "veto", "events": ["fraud", "fraud"], "cap_grade": "C"}, "scoring.veto.events"),
        ({"method": "veto", "events": ["fraud"]}, "scoring.veto.cap_grade"),
        ({"method": "veto", "events": ["nul\x00byte"], "cap_grade": "C"}, "scoring.veto.events.0"),
        ({"method": "veto", "events": ["fraud"], "cap_grade": "C\x00"}, "scoring.veto.cap_grade"),
    ],
)
async def test_invalid_scoring_parameters_are_named(client, api, scoring, field):
    framework = await api.create()
    body = assert_problem(await api.add(framework["id"], {**VALID_INDICATOR, "scoring": scoring}), 422)
    assert field in fields_of(body), body
    assert await api.indicators(framework["id"]) == []


async def test_replace_indicator_validates_like_add(client, api):
    framework = await api.create_small()
    url = f"{BASE}/{framework['id']}/indicators/S1"
    body = assert_problem(await client.put(url, json={**VALID_INDICATOR, "weight": -3}, headers=api.office), 422)
    assert "weight" in fields_of(body)
    bad_veto = {
        **VALID_INDICATOR,
        "kind": "veto",
        "weight": 0,
        "scoring": {"method": "veto", "events": ["a\x00"], "cap_grade": "D"},
    }
    assert_problem(await client.put(url, json=bad_veto, headers=api.office), 422, "scoring.veto.events.0")
    assert_problem(
        await client.put(f"{BASE}/{framework['id']}/indicators/{'C' * 65}", json=VALID_INDICATOR, headers=api.office),
        422,
        "code",
    )
    assert [i["code"] for i in await api.indicators(framework["id"])] == ["S", "S1", "S2"]


async def test_patch_and_publish_bodies_are_checked(client, api):
    framework = await api.create()
    url = f"{BASE}/{framework['id']}"
    assert_problem(await client.patch(url, json={"code": "RENAMED"}, headers=api.office), 422, "code")
    assert_problem(await client.patch(url, json={"status": "published"}, headers=api.office), 422, "status")
    assert_problem(await client.patch(url, json={"version": "one"}, headers=api.office), 422, "version")
    assert_problem(await client.patch(url, json={"total_points": -1}, headers=api.office), 422, "total_points")
    assert_problem(await api.publish(framework["id"], override_reason="x" * 2001), 422, "override_reason")
    assert_problem(await api.publish(framework["id"], force=True), 422, "force")
    assert_problem(
        await client.patch(url, json={"name": "x"}, headers={**api.office, "If-Match": '"' + "9" * 50}), 422, "If-Match"
    )
    read = await api.get(framework["id"])
    assert read["lock_version"] == 1 and read["status"] == "draft" and read["code"] == framework["code"]


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/api/v1/frameworks/not-a-uuid", "framework_id"),
        ("GET", "/api/v1/frameworks/123", "framework_id"),
        ("PATCH", "/api/v1/frameworks/xyz", "framework_id"),
        ("DELETE", "/api/v1/frameworks/00000000-0000-0000-0000-00000000000g", "framework_id"),
        ("GET", "/api/v1/frameworks/zz/indicators", "framework_id"),
        ("POST", "/api/v1/frameworks/zz/publish", "framework_id"),
        ("GET", "/api/v1/frameworks/zz/diff", "framework_id"),
    ],
)
async def test_bad_uuids_in_the_path(client, api, method, path, field):
    r = await client.request(method, path, headers=api.office, json={} if method == "PATCH" else None)
    assert field in fields_of(assert_problem(r, 422))


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"lineage_id": "nope"}, 422, "lineage_id"),
        ({"ids": "nope"}, 400, "ids"),
        ({"ids": f"{uuid.uuid4()},nope"}, 400, "ids"),
        ({"ids": ",".join(str(uuid.uuid4()) for _ in range(501))}, 400, "ids"),
        ({"ids": "a" * 20_001}, 422, "ids"),
        ({"cursor": "!!!not-base64!!!"}, 400, "cursor"),
        ({"cursor": "abcd"}, 400, "cursor"),
        ({"cursor": "c" * 65}, 422, "cursor"),
        ({"limit": "ten"}, 422, "limit"),
        ({"limit": -1}, 422, "limit"),
        ({"org_path": "not/a/path"}, 422, "org_path"),
        ({"org_path": "/gd/sz/" + "x" * 64}, 422, "org_path"),
        ({"code": "c" * 65}, 422, "code"),
        ({"status": "DRAFT"}, 422, "status"),
    ],
)
async def test_bad_list_queries(client, api, params, status, field):
    r = await client.get(BASE, params=params, headers=api.office)
    assert field in fields_of(assert_problem(r, status))


async def test_other_bad_queries(client, api):
    framework = await api.create_small()
    fid = framework["id"]
    cases = [
        (await client.get(f"{BASE}/{fid}/diff", params={"against": "nope"}, headers=api.office), "against"),
        (await client.delete(f"{BASE}/{fid}/indicators/S", params={"cascade": "maybe"}, headers=api.office), "cascade"),
        (await client.get("/api/v1/indicators", headers=api.office), "framework_ids"),
        (await client.get("/api/v1/indicators", params={"framework_ids": "x"}, headers=api.office), "framework_ids"),
        (
            await client.post(
                f"{BASE}/import",
                params={"org_unit_id": "x", "org_path": SZ, "format": "json"},
                content=b"{}",
                headers=api.office,
            ),
            "org_unit_id",
        ),
        (
            await client.post(
                f"{BASE}/import",
                params={"org_unit_id": ORG_UNIT, "org_path": "x", "format": "json"},
                content=b"{}",
                headers=api.office,
            ),
            "org_path",
        ),
        (
            await client.post(BASE, json=VALID_FRAMEWORK, headers={**api.office, "Idempotency-Key": "k" * 201}),
            "Idempotency-Key",
        ),
    ]
    for response, field in cases:
        assert field in fields_of(assert_problem(response, response.status_code)), response.text
        assert 400 <= response.status_code < 500
    assert len(await api.indicators(fid)) == 3


async def test_unknown_routes_and_methods_are_problems(client, api):
    assert_problem(await client.get("/api/v1/nothing-here", headers=api.office), 404)
    assert_problem(await client.put(BASE, json={}, headers=api.office), 405)


# --- property: random JSON never breaks the service -------------------------------------------

KEYS = st.sampled_from(
    sorted(
        set(FrameworkCreate.model_fields)
        | set(IndicatorSpec.model_fields)
        | {"method", "cap", "floor", "bands", "events", "shares", "scale", "version"}
    )
) | st.text(max_size=12)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["economic", "veto", "target_ratio", "/gd/sz", ORG_UNIT, "1.5", "-1"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=20,
)


def bodies(valid: dict) -> st.SearchStrategy:
    """Anything at all, or a valid body with a few fields replaced by anything."""
    patched = st.dictionaries(KEYS, JSON, min_size=1, max_size=3).map(lambda patch: {**valid, **patch})
    return JSON | patched


def assert_sane(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
        assert response.json()["status"] == response.status_code


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies(VALID_FRAMEWORK))
async def test_random_framework_bodies_never_break_the_service(client, api, body):
    assert_sane(await client.post(BASE, json=body, headers=api.office))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies(VALID_INDICATOR))
async def test_random_indicator_bodies_never_break_the_service(client, api, body):
    framework = await api.create()
    assert_sane(await api.add(framework["id"], body))
