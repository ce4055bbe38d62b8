"""DataLoaders: the number of calls to indicator_svc depends on the query's shape, never on how many
frameworks it returns (counted by ``govperf_gateway_upstream_requests_total{service="indicator"}``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.gateway.graphql.conftest import Graph, upstream_calls
from tests.gateway.graphql.support import PROVINCE, derived, next_version, published
from tests.indicator_svc.api.support import SMALL_INDICATORS, SZ, Api

LIST_WITH_RELATIONS = """
query Local($orgPath: String!, $first: Int!) {
  frameworks(orgPath: $orgPath, first: $first) {
    items {
      id code status
      indicators { code level children { code } }
      derivedFrom { id code status indicators { code } }
    }
    nextCursor
  }
}"""

LIST_WITH_INDICATORS = """
query Local($orgPath: String!, $first: Int!) {
  frameworks(orgPath: $orgPath, first: $first) { items { id indicators(topLevelOnly: true) { code } } }
}"""


async def local_drafts(
    api: Api, auth: Callable[..., dict[str, str]], count: int, templates: int = 2
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """``count`` drafts in a fresh county scope, derived from province templates (outside that scope)."""
    province = auth("perf_office", org_path=PROVINCE, subject="office-gd")
    made = [await published(api, org_path=PROVINCE, headers=province) for _ in range(templates)]
    scope = f"{SZ}/c{uuid.uuid4().hex[:10]}"
    drafts = [await derived(api, made[i % templates]["id"], org_path=scope, headers=api.office) for i in range(count)]
    return scope, made, drafts


async def calls_for(graph: Graph, query: str, headers: dict[str, str], **variables: Any) -> tuple[int, dict[str, Any]]:
    before = upstream_calls()
    data = await graph.data(query, headers, **variables)
    return int(upstream_calls() - before), data


async def test_calls_are_constant_for_3_and_12_frameworks_with_indicators_and_templates(graph, api, auth):
    calls = {}
    for count in (3, 12):
        scope, templates, drafts = await local_drafts(api, auth, count)
        calls[count], data = await calls_for(graph, LIST_WITH_RELATIONS, api.office, orgPath=scope, first=100)
        items = data["frameworks"]["items"]
        assert [i["id"] for i in items] == [d["id"] for d in drafts]  # id (creation) order
        template_ids = {t["id"] for t in templates}
        small_codes = [i["code"] for i in SMALL_INDICATORS]
        for item in items:
            assert item["status"] == "DRAFT"
            assert [i["code"] for i in item["indicators"]] == small_codes
            assert [c["code"] for c in item["indicators"][0]["children"]] == ["S1", "S2"]
            assert [i["level"] for i in item["indicators"]] == [1, 2, 2]
            assert item["derivedFrom"]["id"] in template_ids and item["derivedFrom"]["status"] == "PUBLISHED"
            assert [i["code"] for i in item["derivedFrom"]["indicators"]] == small_codes
    # 1 list + 1 indicators batch + 1 templates batch (?ids=) + 1 batch for the templates' indicators.
    assert calls == {3: 4, 12: 4}


async def test_list_with_indicators_is_two_calls(graph, api, auth):
    for count in (3, 12):
        scope, _, _ = await local_drafts(api, auth, count, templates=1)
        calls, data = await calls_for(graph, LIST_WITH_INDICATORS, api.office, orgPath=scope, first=100)
        assert calls == 2
        assert all([i["code"] for i in item["indicators"]] == ["S"] for item in data["frameworks"]["items"])


async def test_more_than_50_frameworks_split_into_indicator_batches_of_50(graph, api, auth):
    scope, _, _ = await local_drafts(api, auth, 51, templates=1)
    calls, data = await calls_for(graph, LIST_WITH_INDICATORS, api.office, orgPath=scope, first=100)
    assert len(data["frameworks"]["items"]) == 51
    assert all(item["indicators"] for item in data["frameworks"]["items"])
    assert calls == 1 + 2  # the service takes at most 50 frameworks per indicators call


async def test_previous_versions_resolve_in_one_batch(graph, api, auth):
    firsts = [await published(api, org_path=SZ, headers=api.office) for _ in range(3)]
    seconds = [await next_version(api, f["id"], headers=api.office) for f in firsts]
    aliased = " ".join(
        f'v{n}: framework(id: "{s["id"]}") {{ id version previousVersion {{ id version status }} '
        "derivedFrom { id } }"
        for n, s in enumerate(seconds)
    )
    calls, data = await calls_for(graph, f"{{ {aliased} }}", api.office)
    for n, (first, second) in enumerate(zip(firsts, seconds, strict=True)):
        answer = data[f"v{n}"]
        assert answer["id"] == second["id"] and answer["version"] == 2 and answer["derivedFrom"] is None
        assert answer["previousVersion"] == {"id": first["id"], "version": 1, "status": "PUBLISHED"}
    assert calls == 2  # the three drafts in one ?ids= call, their previous versions in a second


async def test_a_framework_listed_and_referenced_again_is_not_fetched_twice(graph, api, auth):
    first = await published(api, org_path=f"{SZ}/own{uuid.uuid4().hex[:6]}", headers=api.office)
    second = await next_version(api, first["id"], headers=api.office)
    query = """query($orgPath: String!) { frameworks(orgPath: $orgPath) { items { id previousVersion { id } } } }"""
    calls, data = await calls_for(graph, query, api.office, orgPath=first["org_path"])
    assert [i["id"] for i in data["frameworks"]["items"]] == [first["id"], second["id"]]
    assert data["frameworks"]["items"][1]["previousVersion"] == {"id": first["id"]}
    assert calls == 1  # the previous version came with the list page
