"""Users through GraphQL: the same people and the same refusals as the admin REST API."""

from __future__ import annotations

from typing import Any

from tests.gateway.api.support import Identity

USERS = "query($orgPath: String, $first: Int!, $after: String) { users(orgPath: $orgPath, first: $first, after: $after) { items { id username roles orgPath disabled } nextCursor } }"  # noqa: E501
USER = "query($id: UUID!) { user(id: $id) { username orgPath } }"


async def graph(ident: Identity, headers: dict[str, str], query: str, **variables: Any) -> dict[str, Any]:
    r = await ident.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def rest_usernames(ident: Identity, headers: dict[str, str], org_path: str) -> set[str]:
    r = await ident.client.get("/api/v1/admin/users", params={"org_path": org_path, "limit": 500}, headers=headers)
    assert r.status_code == 200, r.text
    return {u["username"] for u in r.json()["items"]}


async def test_admin_pages_through_users_and_sees_what_rest_shows(ident: Identity):
    _, admin = await ident.headers("admin", org_path="/")
    made = {(await ident.user("department", org_path="/gd/zh")).username for _ in range(3)}
    seen: set[str] = set()
    after = None
    while True:
        body = await graph(ident, admin, USERS, orgPath="/gd/zh", first=2, after=after)
        assert "errors" not in body, body
        page = body["data"]["users"]
        seen |= {u["username"] for u in page["items"]}
        after = page["nextCursor"]
        if after is None:
            break
    assert made <= seen
    assert seen == await rest_usernames(ident, admin, "/gd/zh")


async def test_a_performance_office_sees_only_its_subtree(ident: Identity):
    _, office = await ident.headers("perf_office", org_path="/gd/sz")
    inside = await ident.user("department", org_path="/gd/sz/ft")
    outside = await ident.user("department", org_path="/gd/gz")
    body = await graph(ident, office, USERS, first=100)
    usernames = {u["username"] for u in body["data"]["users"]["items"]}
    assert inside.username in usernames and outside.username not in usernames
    assert all(u["orgPath"].startswith("/gd/sz") for u in body["data"]["users"]["items"])
    assert (await graph(ident, office, USER, id=str(inside.id)))["data"]["user"]["orgPath"] == "/gd/sz/ft"
    assert (await graph(ident, office, USER, id=str(outside.id)))["data"]["user"] is None  # REST: 404


async def test_other_roles_are_refused_with_a_coded_error(ident: Identity):
    _, auditor = await ident.headers("audit", org_path="/")
    for query, variables in ((USERS, {"first": 10}), (USER, {"id": "00000000-0000-7000-8000-000000000001"})):
        body = await graph(ident, auditor, query, **variables)
        assert body["data"] in (None, {"user": None})  # nothing leaks, whatever the field's nullability
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_paging_input_is_a_user_error(ident: Identity):
    _, admin = await ident.headers("admin", org_path="/")
    for variables in (
        {"first": 0},
        {"first": 101},
        {"first": 5, "after": "not-a-cursor"},
        {"first": 5, "orgPath": "x"},
    ):
        body = await graph(ident, admin, USERS, **variables)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
