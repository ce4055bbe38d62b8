"""Draft -> validate -> publish (immutable) -> retire / new version / derive, through the REST API."""

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework import codecs, logic
from services.indicator_svc.framework.content import FrameworkContent
from tests.indicator_svc.api.support import BASE, ORG_UNIT, assert_problem


async def test_city_framework_is_valid_and_balanced(client, api):
    content = load_city_framework()
    framework = await api.import_city()
    assert framework["status"] == "draft" and framework["code"] == content.code
    assert len(await api.indicators(framework["id"])) == len(content.indicators)

    r = await client.get(f"{BASE}/{framework['id']}/validation", headers=api.office)
    assert r.status_code == 200 and r.json() == {"valid": True, "problems": []}

    r = await client.get(f"{BASE}/{framework['id']}/balance", headers=api.office)
    assert r.status_code == 200, r.text
    report = r.json()
    expected = logic.balance(content)
    assert logic.BalanceReport.model_validate(report) == expected
    assert report["passed"] is True and all(c["passed"] for c in report["checks"])
    assert {c["rule"] for c in report["checks"]} >= {"min_public_satisfaction_share", "min_external_evaluation_share"}
    assert sum(float(v) for v in report["by_category"].values()) + float(report["uncategorized_share"]) == 1


async def test_publish_freezes_the_content_and_queues_the_event(client, api, db):
    content = load_city_framework()
    draft = await api.import_city()
    assert_problem(await api.publish(draft["id"], version=draft["lock_version"] + 1), 412)
    url = f"{BASE}/{draft['id']}/publish"
    assert_problem(await client.post(url, headers={**api.office, "If-Match": '"99"'}), 412)
    assert_problem(await client.post(url, headers=api.office), 428, "If-Match")
    r = await client.post(url, headers={**api.office, "If-Match": f'"{draft["lock_version"]}"'})
    assert r.status_code == 200, r.text
    published = r.json()
    assert published["status"] == "published" and published["published_by"] == "office-sz"
    assert published["published_at"] is not None and published["override_reason"] is None
    assert published["content_hash"] == logic.content_hash(content)
    assert (await api.get(draft["id"]))["content_hash"] == logic.content_hash(content)
    assert logic.content_hash(codecs.from_json(await api.export(draft["id"]))) == logic.content_hash(content)

    rows = (
        await db.execute(
            text("SELECT subject, envelope FROM indicator.outbox WHERE envelope->>'subject' = :id"), {"id": draft["id"]}
        )
    ).all()
    assert len(rows) == 1
    subject, envelope = rows[0]
    assert subject == "govperf.indicator.framework.published"
    assert envelope["type"] == "indicator.framework.published" and envelope["specversion"] == "1.0"
    assert envelope["data"]["framework_id"] == draft["id"]
    assert envelope["data"]["content_hash"] == published["content_hash"]
    assert logic.content_hash(FrameworkContent.model_validate(envelope["data"]["content"])) == published["content_hash"]


async def test_published_framework_refuses_every_write(client, api):
    framework = await api.import_city()
    fid = framework["id"]
    published = await api.published(fid)
    before_export = await api.export(fid)
    before_indicators = await api.indicators(fid)
    url, h = f"{BASE}/{fid}", api.office
    leaf = {
        "code": "E1.1",
        "parent_code": "E1",
        "name": "GDP growth",
        "weight": 4,
        "scoring": {"method": "target_ratio"},
        "evaluation_subjects": ["authoritative_source"],
    }

    attempts = [
        await client.patch(url, json={"name": "Rewritten"}, headers=h),
        await client.patch(url, json={"name": "Rewritten", "version": published["lock_version"]}, headers=h),
        await client.post(f"{url}/indicators", json={**leaf, "code": "NEW"}, headers=h),
        await client.put(f"{url}/indicators/E1.1", json=leaf, headers=h),
        await client.delete(f"{url}/indicators/E1.1", headers=h),
        await client.delete(f"{url}/indicators/E", params={"cascade": "true"}, headers=h),
        await client.delete(url, headers=h),
        await client.post(f"{url}/publish", headers=h),
        await client.post(f"{url}/publish", json={"override_reason": "publish it once more please"}, headers=h),
    ]
    for response in attempts:
        assert_problem(response, 409)

    after = await api.get(fid)
    assert after == published
    assert await api.export(fid) == before_export
    assert await api.indicators(fid) == before_indicators


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE indicator.indicator SET weight = weight + 1 WHERE framework_id = :id",
        "DELETE FROM indicator.indicator WHERE framework_id = :id",
        "INSERT INTO indicator.indicator (id, framework_id, position, code, name, weight, nature_tags, kind, direction,"
        " evaluation_subjects) VALUES (gen_random_uuid(), :id, 999, 'SNEAK', 'Sneaked in', 0, '{}', 'quantitative',"
        " 'higher_better', '{}')",
        "UPDATE indicator.framework SET snapshot = '{}'::jsonb WHERE id = :id",
        "UPDATE indicator.framework SET content_hash = 'forged' WHERE id = :id",
        "UPDATE indicator.framework SET total_points = 1 WHERE id = :id",
        "UPDATE indicator.framework SET status = 'draft' WHERE id = :id",
        "DELETE FROM indicator.framework WHERE id = :id",
    ],
)
async def test_database_refuses_raw_changes_to_published_content(api, db, statement):
    framework = await api.create_small()
    published = await api.published(framework["id"])
    with pytest.raises(DBAPIError, match=r"immutable|cannot be deleted"):
        async with db.begin_nested():
            await db.execute(text(statement), {"id": framework["id"]})
    # The test transaction survived the refused statement; the framework is untouched.
    count = await db.scalar(
        text("SELECT count(*) FROM indicator.indicator WHERE framework_id = :id"), {"id": framework["id"]}
    )
    assert count == 3
    assert (await api.get(framework["id"]))["content_hash"] == published["content_hash"]


# Each hole the first freeze triggers left open (issue 6, item 9).
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE indicator.indicator SET framework_id = :draft WHERE framework_id = :id",  # move out
        "UPDATE indicator.indicator SET framework_id = :id WHERE framework_id = :draft",  # move in
        "UPDATE indicator.framework SET description = 'rewritten' WHERE id = :id",
        "UPDATE indicator.framework SET published_by = 'someone-else' WHERE id = :id",
        "UPDATE indicator.framework SET override_reason = 'made up afterwards' WHERE id = :id",
        "UPDATE indicator.framework SET org_unit_id = gen_random_uuid() WHERE id = :id",
        "UPDATE indicator.framework SET created_by = 'someone-else' WHERE id = :id",
        "UPDATE indicator.framework SET derived_from_id = :draft WHERE id = :id",
        "UPDATE indicator.framework SET published_at = now() - interval '1 day' WHERE id = :id",
        "UPDATE indicator.framework SET retired_at = now() WHERE id = :id",  # retired_at without retiring
        "UPDATE indicator.framework SET status = 'retired' WHERE id = :id",  # retiring without retired_at
    ],
)
async def test_database_refuses_every_column_of_a_published_framework(api, db, statement):
    framework = await api.create_small()
    published = await api.published(framework["id"])
    draft = await api.create_small()
    with pytest.raises(DBAPIError, match=r"immutable"):
        async with db.begin_nested():
            await db.execute(text(statement), {"id": framework["id"], "draft": draft["id"]})
    assert await api.get(framework["id"]) == published
    assert [i["code"] for i in await api.indicators(framework["id"])] == ["S", "S1", "S2"]
    assert [i["code"] for i in await api.indicators(draft["id"])] == ["S", "S1", "S2"]


async def test_database_lets_a_published_framework_retire_once_and_then_freezes_it(api, db):
    framework = await api.create_small()
    await api.published(framework["id"])
    fid = {"id": framework["id"]}
    retire = "UPDATE indicator.framework SET status = 'retired', retired_at = now(), lock_version = lock_version + 1"
    await db.execute(text(f"{retire} WHERE id = :id"), fid)
    assert (await api.get(framework["id"]))["status"] == "retired"
    for statement in (
        "UPDATE indicator.framework SET status = 'published', retired_at = NULL WHERE id = :id",
        "UPDATE indicator.framework SET retired_at = now() + interval '1 day' WHERE id = :id",
        "UPDATE indicator.framework SET name = 'renamed' WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match=r"immutable"):
            async with db.begin_nested():
                await db.execute(text(statement), fid)


async def test_publish_refuses_an_invalid_draft_listing_every_problem(client, api):
    framework = await api.create(total_points=100)
    fid = framework["id"]
    for indicator in [
        {"code": "A", "name": "Economy", "weight": 60},  # no category
        {
            "code": "A1",
            "parent_code": "A",
            "name": "Growth",
            "weight": 50,
            "scoring": {"method": "target_ratio"},
        },  # no evaluation subject
        {
            "code": "A2",
            "parent_code": "A",
            "name": "growth!",
            "weight": 5,
            "evaluation_subjects": ["experts"],
        },  # no scoring, same normalized name
        {
            "code": "B",
            "name": "Bonus",
            "weight": 3,
            "kind": "bonus",
            "category": "social",
            "scoring": {"method": "bonus", "per_item": 1, "cap": 3},
        },  # special kind with weight
    ]:
        assert (await api.add(fid, indicator)).status_code == 201
    r = await api.publish(fid)
    body = assert_problem(r, 422)
    found = {(e["code"], e["indicator_code"]) for e in body["errors"]}
    assert found == {
        ("weights.sum_mismatch", None),
        ("weights.sum_mismatch", "A"),
        ("category.missing_root", "A"),
        ("leaf.missing_subject", "A1"),
        ("leaf.missing_scoring", "A2"),
        ("indicator.duplicate_name", "A2"),
        ("special.nonzero_weight", "B"),
    }
    report = (await client.get(f"{BASE}/{fid}/validation", headers=api.office)).json()
    assert report["valid"] is False
    assert {(p["code"], p["indicator_code"]) for p in report["problems"]} == found
    assert (await api.get(fid))["status"] == "draft"


async def test_policy_breach_needs_a_recorded_override_reason(client, api):
    strict = load_city_framework().policy.model_copy(update={"min_public_satisfaction_share": Decimal("0.9")})
    content = load_city_framework().model_copy(update={"policy": strict})
    framework = await api.import_city(content)
    fid = framework["id"]
    balance = (await client.get(f"{BASE}/{fid}/balance", headers=api.office)).json()
    assert balance["passed"] is False

    body = assert_problem(await api.publish(fid), 422)
    assert [e["rule"] for e in body["errors"]] == ["min_public_satisfaction_share"]
    assert body["errors"][0]["passed"] is False
    assert_problem(await api.publish(fid, override_reason="short"), 422, "override_reason")
    assert (await api.get(fid))["status"] == "draft"

    reason = "The city council resolved to phase in the survey over two years."
    published = await api.published(fid, override_reason=reason)
    assert published["status"] == "published" and published["override_reason"] == reason
    assert (await api.get(fid))["override_reason"] == reason


async def test_override_reason_is_not_recorded_when_nothing_is_breached(api):
    framework = await api.create_small()
    published = await api.published(framework["id"], override_reason="Nothing to override here, really.")
    assert published["status"] == "published" and published["override_reason"] is None


async def test_retire(client, api):
    framework = await api.create_small()
    url = f"{BASE}/{framework['id']}"
    assert_problem(await client.post(f"{url}/retire", headers=api.office), 409)  # a draft
    published = await api.published(framework["id"])
    assert_problem(await client.post(f"{url}/retire", headers=api.office), 428, "If-Match")
    assert_problem(await client.post(f"{url}/retire", headers={**api.office, "If-Match": '"1"'}), 412)
    r = await client.post(f"{url}/retire", headers=api.office | await api.if_match(framework["id"]))
    assert r.status_code == 200, r.text
    retired = r.json()
    assert retired["status"] == "retired" and retired["retired_at"] is not None
    assert retired["content_hash"] == published["content_hash"]
    assert_problem(await client.post(f"{url}/retire", headers=api.office), 409)
    assert (await api.get(framework["id"], headers=api.auth("department", org_path="/hn")))["status"] == "retired"
    assert_problem(await client.patch(url, json={"name": "x"}, headers=api.office), 409)
    assert await api.list_ids(status="retired") == [framework["id"]]


async def test_new_version_opens_one_draft_per_lineage(client, api):
    v1 = await api.published((await api.create_small())["id"])
    r = await client.post(f"{BASE}/{v1['id']}/versions", headers=api.office)
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert r.headers["location"] == f"{BASE}/{v2['id']}"
    assert v2["version"] == 2 and v2["status"] == "draft" and v2["previous_version_id"] == v1["id"]
    assert v2["lineage_id"] == v1["lineage_id"] and v2["code"] == v1["code"]
    assert [i["code"] for i in await api.indicators(v2["id"])] == ["S", "S1", "S2"]
    assert logic.content_hash(codecs.from_json(await api.export(v2["id"]))) == v1["content_hash"]

    assert_problem(await client.post(f"{BASE}/{v1['id']}/versions", headers=api.office), 409)
    assert_problem(await client.post(f"{BASE}/{v2['id']}/versions", headers=api.office), 409)  # still a draft
    assert sorted(await api.list_ids(lineage_id=v1["lineage_id"])) == sorted([v1["id"], v2["id"]])

    await api.published(v2["id"])
    # v2 is the newest now: the next version must start from it.
    assert_problem(await client.post(f"{BASE}/{v1['id']}/versions", headers=api.office), 409)
    r = await client.post(f"{BASE}/{v2['id']}/versions", headers=api.office)
    assert r.status_code == 201 and r.json()["version"] == 3


async def test_derive_from_a_template_and_see_the_diff(client, api):
    province = api.auth("perf_office", org_path="/gd", subject="office-gd")
    template = await api.import_city(org_path="/gd", headers=province)
    await api.published(template["id"], headers=province)

    r = await client.post(
        f"{BASE}/{template['id']}/derive",
        headers=api.office,
        json={"code": "SZ-2025", "name": "Shenzhen framework", "org_unit_id": ORG_UNIT, "org_path": "/gd/sz"},
    )
    assert r.status_code == 201, r.text
    local = r.json()
    assert local["derived_from_id"] == template["id"] and local["status"] == "draft"
    assert local["org_path"] == "/gd/sz" and local["version"] == 1 and local["lineage_id"] != template["lineage_id"]

    leaf = next(i for i in await api.indicators(local["id"]) if i["code"] == "E1.1")
    body = {k: v for k, v in leaf.items() if k not in {"id", "framework_id", "position", "level"}}
    r = await client.put(
        f"{BASE}/{local['id']}/indicators/E1.1",
        headers=api.office | await api.if_match(local["id"]),
        json={**body, "name": "GDP growth rate (Shenzhen)", "unit": "percent"},
    )
    assert r.status_code == 200, r.text

    r = await client.get(f"{BASE}/{local['id']}/diff", headers=api.office)
    assert r.status_code == 200, r.text
    diff = r.json()
    assert diff["added"] == [] and diff["removed"] == [] and diff["moved"] == []
    assert {c["field"]: (c["old"], c["new"]) for c in diff["framework_changes"]} == {
        "code": ("CITY-2025", "SZ-2025"),
        "name": ("Municipal government comprehensive performance appraisal framework 2025", "Shenzhen framework"),
    }
    assert diff["changed"] == [
        {
            "code": "E1.1",
            "changes": [
                {"field": "name", "old": "GDP growth rate", "new": "GDP growth rate (Shenzhen)"},
                {"field": "unit", "old": "%", "new": "percent"},
            ],
        }
    ]

    # A draft of another org cannot be a template.
    assert_problem(
        await client.post(
            f"{BASE}/{local['id']}/derive",
            headers=api.office,
            json={"code": "SZ-X", "name": "X", "org_unit_id": ORG_UNIT, "org_path": "/gd/sz"},
        ),
        409,
    )


async def test_diff_between_any_two_versions(client, api):
    v1 = await api.published((await api.create_small())["id"])
    v2 = (await client.post(f"{BASE}/{v1['id']}/versions", headers=api.office)).json()
    fid = v2["id"]
    h = api.office | await api.if_match(fid)
    assert (await client.delete(f"{BASE}/{fid}/indicators/S2", headers=h)).status_code == 204
    assert (
        await api.add(
            fid,
            {
                "code": "S3",
                "parent_code": "S",
                "name": "Service users' rating",
                "weight": 20,
                "kind": "satisfaction",
                "evaluation_subjects": ["service_users"],
                "scoring": {"method": "satisfaction"},
            },
        )
    ).status_code == 201
    assert (
        await client.patch(
            f"{BASE}/{fid}",
            json={"total_points": 100, "description": "v2"},
            headers=api.office | await api.if_match(fid),
        )
    ).status_code == 200
    await api.published(fid)

    default = (await client.get(f"{BASE}/{fid}/diff", headers=api.office)).json()  # against previous version
    explicit = (await client.get(f"{BASE}/{fid}/diff", params={"against": v1["id"]}, headers=api.office)).json()
    assert default == explicit
    assert explicit["added"] == ["S3"] and explicit["removed"] == ["S2"] and explicit["changed"] == []
    assert explicit["framework_changes"] == [{"field": "description", "old": None, "new": "v2"}]

    backwards = (await client.get(f"{BASE}/{v1['id']}/diff", params={"against": fid}, headers=api.office)).json()
    assert backwards["added"] == ["S2"] and backwards["removed"] == ["S3"]

    same = (await client.get(f"{BASE}/{fid}/diff", params={"against": fid}, headers=api.office)).json()
    assert same == {"framework_changes": [], "added": [], "removed": [], "changed": [], "moved": []}

    assert_problem(await client.get(f"{BASE}/{v1['id']}/diff", headers=api.office), 422, "against")
    assert_problem(
        await client.get(f"{BASE}/{fid}/diff", params={"against": str(uuid.uuid4())}, headers=api.office), 404
    )


async def test_an_event_too_large_for_nats_is_refused_in_the_request(db):
    from services.indicator_svc.db import TABLES
    from shared.errors import Unprocessable
    from shared.events import CloudEvent
    from shared.messaging import outbox

    huge = CloudEvent(type="indicator.framework.published", source="test", data={"blob": "x" * (8 * 1024 * 1024)})
    with pytest.raises(Unprocessable):
        await outbox.add(db, TABLES, huge)
    small = CloudEvent(type="indicator.framework.published", source="test", data={"blob": "x"})
    await outbox.add(db, TABLES, small)
    assert await db.scalar(text("SELECT count(*) FROM indicator.outbox WHERE id = :id"), {"id": small.id}) == 1


async def test_publish_refuses_rules_that_do_not_fit_the_leaf_or_the_total(client, api):
    # Each rule is valid alone; it is wrong only with its leaf's direction, kind or the framework's 100 points.
    framework = await api.create(total_points=100)
    fid = framework["id"]
    falling_bands = [{"threshold": 1, "share": 1}, {"threshold": 2, "share": "0.5"}]
    leaves = {
        "S1": {"weight": 40, "direction": "lower_better", "scoring": {"method": "target_ratio"}},
        "S3": {"weight": 30, "scoring": {"method": "bands", "bands": falling_bands}},
        "S4": {
            "weight": 10,
            "direction": "target_band",
            "scoring": {"method": "bands", "bands": [{"threshold": 1, "share": "0.5"}, {"threshold": 2, "share": 1}]},
        },
        "B": {"weight": 0, "kind": "bonus", "scoring": {"method": "bonus", "per_item": 5, "cap": 150}},
        "D": {"weight": 0, "kind": "deduction", "scoring": {"method": "deduction", "per_item": 5, "cap": 1000}},
        "V": {"weight": 0, "kind": "veto", "scoring": {"method": "bonus", "per_item": 1, "cap": 1}},
    }
    await api.add(fid, {"code": "S", "name": "Social development", "weight": 100, "category": "social"})
    for code, fields in leaves.items():
        indicator = {"code": code, "parent_code": "S", "name": f"Leaf {code}", "evaluation_subjects": ["experts"]}
        assert (await api.add(fid, indicator | fields)).status_code == 201
    satisfaction = {
        "code": "S2",
        "parent_code": "S",
        "name": "Public satisfaction",
        "weight": 20,
        "kind": "satisfaction",
        "scoring": {"method": "satisfaction"},
        "evaluation_subjects": ["public"],
    }
    assert (await api.add(fid, satisfaction)).status_code == 201

    body = assert_problem(await api.publish(fid), 422)
    by_leaf = {e["indicator_code"]: (e["code"], e["message"]) for e in body["errors"]}
    assert by_leaf == {
        "S1": (
            "scoring.rule_mismatch",
            "Indicator 'S1': lower is better, so target_ratio needs a zero_point (the value that earns nothing).",
        ),
        "S3": (
            "scoring.rule_mismatch",
            "Indicator 'S3': higher is better, so band shares must not fall as thresholds rise.",
        ),
        "S4": (
            "scoring.rule_mismatch",
            "Indicator 'S4': a target band's shares must rise to a peak of exactly 1 "
            "and then fall (at least one band after the peak below 1).",
        ),
        "B": ("scoring.rule_mismatch", "Indicator 'B': the bonus cap 150 exceeds the framework's total points 100."),
        "D": (
            "scoring.rule_mismatch",
            "Indicator 'D': the deduction cap 1000 exceeds the framework's total points 100.",
        ),
        "V": ("scoring.kind_mismatch", "veto indicator 'V' cannot be scored by bonus; use one of: veto."),
    }
    assert (await api.get(fid))["status"] == "draft"

    fixed = {
        "S1": {"scoring": {"method": "target_ratio", "zero_point": 30}},
        "S3": {
            "scoring": {"method": "bands", "bands": [{"threshold": 1, "share": "0.5"}, {"threshold": 2, "share": 1}]}
        },
        "S4": {"scoring": {"method": "bands", "bands": [{"threshold": 1, "share": 1}, {"threshold": 2, "share": 0}]}},
        "B": {"scoring": {"method": "bonus", "per_item": 5, "cap": 100}},
        "D": {"scoring": {"method": "deduction", "per_item": 5, "cap": 20}},
        "V": {"scoring": {"method": "veto", "events": ["data_fraud"], "cap_grade": "C"}},
    }
    for code, change in fixed.items():
        indicator = {"code": code, "parent_code": "S", "name": f"Leaf {code}", "evaluation_subjects": ["experts"]}
        url = f"{BASE}/{fid}/indicators/{code}"
        r = await client.put(url, json=indicator | leaves[code] | change, headers=api.office | await api.if_match(fid))
        assert r.status_code == 200, r.text
    assert (await api.published(fid))["status"] == "published"
