"""Who may use the graph, and what each principal sees: the same as the REST API shows it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from tests.gateway.graphql.conftest import Graph
from tests.indicator_svc.api.support import BASE, Api, assert_problem

FRAMEWORK_FIELDS = """id lineageId version code name description orgUnitId orgPath status totalPoints
    contentHash publishedAt"""
INDICATOR_FIELDS = """code name level parentCode weight category kind direction unit natureTags
    evaluationSubjects dataSource responsibleUnit scoringMethod"""


async def test_no_token_is_refused_with_401_problem(graph: Graph) -> None:
    response = await graph.post("{ me { subject } }")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_bad_token_is_refused_with_401_problem(graph: Graph) -> None:
    assert_problem(await graph.post("{ me { subject } }", {"Authorization": "Bearer not.a.token"}), 401)


async def test_me_is_the_verified_caller(graph: Graph, auth: Any) -> None:
    headers = auth("perf_office", "audit", org_path="/gd/gz", subject="office-gz")
    me = (await graph.data("{ me { subject roles orgUnitId orgPath } }", headers))["me"]
    assert me["subject"] == "office-gz" and me["roles"] == ["audit", "perf_office"] and me["orgPath"] == "/gd/gz"


async def test_out_of_scope_draft_is_404_in_rest_and_null_in_graphql(
    graph: Graph, api: Api, client: httpx.AsyncClient, auth: Any
) -> None:
    scope = "/gd/sz/scopecheck"
    draft = await api.create_small(org_path=scope)
    published = await api.create_small(org_path=scope)
    assert (await api.publish(published["id"])).status_code == 200
    guangzhou = auth("perf_office", org_path="/gd/gz", subject="office-gz")

    assert_problem(await client.get(f"{BASE}/{draft['id']}", headers=guangzhou), 404)
    assert (await client.get(f"{BASE}/{published['id']}", headers=guangzhou)).status_code == 200
    rest_list = await client.get(BASE, params={"org_path": scope}, headers=guangzhou)
    assert [f["id"] for f in rest_list.json()["items"]] == [published["id"]]

    query = """query($draft: UUID!, $published: UUID!, $scope: String!) {
      draft: framework(id: $draft) { id indicators { code } }
      published: framework(id: $published) { id status indicators { code } }
      frameworks(orgPath: $scope) { items { id } }
    }"""
    data = await graph.data(query, guangzhou, draft=draft["id"], published=published["id"], scope=scope)
    assert data["draft"] is None  # absent, with no error that would confirm it exists
    assert data["published"]["id"] == published["id"] and data["published"]["status"] == "PUBLISHED"
    assert [i["code"] for i in data["published"]["indicators"]] == ["S", "S1", "S2"]
    assert data["frameworks"]["items"] == [{"id": published["id"]}]

    # The owner's office sees both, through both.
    owner = await graph.data(query, api.office, draft=draft["id"], published=published["id"], scope=scope)
    assert owner["draft"]["id"] == draft["id"] and len(owner["draft"]["indicators"]) == 3
    assert {f["id"] for f in owner["frameworks"]["items"]} == {draft["id"], published["id"]}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def test_graphql_shows_the_same_data_as_rest(graph: Graph, api: Api, client: httpx.AsyncClient) -> None:
    framework = await api.import_city()
    rest = await api.get(framework["id"])
    rest_indicators = await api.indicators(framework["id"])
    query = f"""query($id: UUID!) {{ framework(id: $id) {{ {FRAMEWORK_FIELDS}
                 indicators {{ {INDICATOR_FIELDS} children {{ code }} }} }} }}"""
    answer = (await graph.data(query, api.office, id=framework["id"]))["framework"]

    for field in (
        "id",
        "lineage_id",
        "version",
        "code",
        "name",
        "description",
        "org_unit_id",
        "org_path",
        "content_hash",
        "published_at",
    ):
        assert answer[camel(field)] == rest[field], field
    assert answer["status"] == rest["status"].upper()
    assert Decimal(answer["totalPoints"]) == Decimal(rest["total_points"])

    assert len(answer["indicators"]) == len(rest_indicators) > 10
    for graph_indicator, rest_indicator in zip(answer["indicators"], rest_indicators, strict=True):
        for field in (
            "code",
            "name",
            "level",
            "parent_code",
            "category",
            "kind",
            "direction",
            "unit",
            "nature_tags",
            "evaluation_subjects",
            "data_source",
            "responsible_unit",
        ):
            assert graph_indicator[camel(field)] == rest_indicator[field], (rest_indicator["code"], field)
        assert Decimal(graph_indicator["weight"]) == Decimal(rest_indicator["weight"])
        scoring = rest_indicator["scoring"]
        assert graph_indicator["scoringMethod"] == (scoring["method"] if scoring else None)
        children = [i["code"] for i in rest_indicators if i["parent_code"] == rest_indicator["code"]]
        assert [c["code"] for c in graph_indicator["children"]] == children


async def test_published_framework_reads_the_same_for_another_county(graph: Graph, api: Api, auth: Any) -> None:
    framework = await api.create_small()
    published = (await api.publish(framework["id"])).json()
    guangzhou = auth("department", org_path="/gd/gz", subject="dept-gz")
    query = "query($id: UUID!) { framework(id: $id) { id contentHash publishedAt status } }"
    seen_by_owner = await graph.data(query, api.office, id=published["id"])
    seen_by_other = await graph.data(query, guangzhou, id=published["id"])
    assert seen_by_owner == seen_by_other
    assert seen_by_other["framework"]["contentHash"] == published["content_hash"]


async def test_unknown_framework_is_null(graph: Graph, api: Api) -> None:
    data = await graph.data('{ framework(id: "00000000-0000-7000-8000-00000000beef") { id } }', api.office)
    assert data == {"framework": None}


async def test_pages_follow_next_cursor(graph: Graph, api: Api) -> None:
    scope = "/gd/sz/graphpaging"
    created = [(await api.create(org_path=scope))["id"] for _ in range(5)]
    query = """query($scope: String!, $after: String) {
      frameworks(orgPath: $scope, first: 2, after: $after) { items { id } nextCursor } }"""
    seen, after, pages = [], None, 0
    while True:
        page = (await graph.data(query, api.office, scope=scope, after=after))["frameworks"]
        seen += [f["id"] for f in page["items"]]
        pages, after = pages + 1, page["nextCursor"]
        if after is None:
            break
    assert seen == created and pages == 3


async def test_filters_pass_through(graph: Graph, api: Api) -> None:
    scope = "/gd/sz/graphfilters"
    draft = await api.create(org_path=scope, code="GF-DRAFT")
    published = await api.create_small(org_path=scope, code="GF-PUB")
    assert (await api.publish(published["id"])).status_code == 200
    query = """query($scope: String!, $status: FrameworkStatus, $code: String) {
      frameworks(orgPath: $scope, status: $status, code: $code) { items { id } } }"""

    async def ids(**filters: Any) -> list[str]:
        return [f["id"] for f in (await graph.data(query, api.office, scope=scope, **filters))["frameworks"]["items"]]

    assert await ids(status="DRAFT") == [draft["id"]]
    assert await ids(status="PUBLISHED") == [published["id"]]
    assert await ids(code="GF-DRAFT") == [draft["id"]]
    assert await ids(status="DRAFT", code="GF-PUB") == []


async def test_any_role_reads_the_drafts_of_its_scope(graph: Graph, api: Api, auth: Any) -> None:
    expert = auth("expert", org_path="/gd/sz", subject="expert-sz")
    draft = await api.create(org_path="/gd/sz/expertview")
    data = await graph.data("query($id: UUID!) { framework(id: $id) { id } }", expert, id=draft["id"])
    assert data["framework"]["id"] == draft["id"]
