"""Depth, alias and token limits (plain and through fragments), introspection, GraphiQL, masking."""

from __future__ import annotations

from typing import Any

from services.gateway.config import Settings
from tests.gateway.graphql.conftest import Graph, upstream_calls

LIMITS = Settings()  # the test gateway runs with the default limits
DEPTH, ALIASES, TOKENS = LIMITS.graphql_max_depth, LIMITS.graphql_max_aliases, LIMITS.graphql_max_tokens


# Depth counts selection sets below the root fields, as the limiter does: in
# ``frameworks { items { id } }`` the field ``id`` is at depth 2.
def nested_query(depth: int) -> str:
    """``frameworks { items { derivedFrom { ... { id } } } }`` whose deepest field is at ``depth``."""
    inner = "id"
    for _ in range(depth - 2):
        inner = f"derivedFrom {{ {inner} }}"
    return f"query Deep {{ frameworks(first: 1) {{ items {{ {inner} }} }} }}"


def nested_fragments(depth: int) -> str:
    """The same depth, each level hidden in its own fragment."""
    levels = depth - 2
    fragments = [f"fragment L{n} on Framework {{ derivedFrom {{ ...L{n + 1} }} }}" for n in range(levels)]
    fragments.append(f"fragment L{levels} on Framework {{ id }}")
    return "query Deep { frameworks(first: 1) { items { ...L0 } } }\n" + "\n".join(fragments)


def errors_of(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors", [])]


async def refused(graph: Graph, query: str, headers: dict[str, str]) -> list[str]:
    """Errors of a query that must be refused before any service call."""
    before = upstream_calls()
    body = await graph.run(query, headers)
    assert body.get("data") is None and body["errors"], body
    assert upstream_calls() == before
    return errors_of(body)


async def test_depth_at_the_limit_runs(graph: Graph, api: Any) -> None:
    await api.create()
    for query in (nested_query(DEPTH), nested_fragments(DEPTH)):
        assert "frameworks" in await graph.data(query, api.office)


async def test_depth_over_the_limit_is_refused(graph: Graph, api: Any) -> None:
    for query in (nested_query(DEPTH + 1), nested_fragments(DEPTH + 1)):
        assert f"'Deep' exceeds maximum operation depth of {DEPTH}" in await refused(graph, query, api.office)


def aliases(count: int) -> str:
    return " ".join(f"a{n}: me {{ subject }}" for n in range(count))


async def test_aliases_at_the_limit_run(graph: Graph, api: Any) -> None:
    data = await graph.data(f"{{ {aliases(ALIASES)} }}", api.office)
    assert len(data) == ALIASES


async def test_too_many_aliases_are_refused(graph: Graph, api: Any) -> None:
    expected = f"{ALIASES + 1} aliases found. Allowed: {ALIASES}"
    assert expected in await refused(graph, f"{{ {aliases(ALIASES + 1)} }}", api.office)
    # Hidden in a fragment ...
    hidden = f"query {{ ...Many }} fragment Many on Query {{ {aliases(ALIASES + 1)} }}"
    assert expected in await refused(graph, hidden, api.office)
    # ... or a small fragment spread several times: every spread counts.
    half = ALIASES // 2 + 1
    spread = (
        f"query {{ ...Half me {{ ...Again }} ...Half }} fragment Half on Query {{ {aliases(half)} }} "
        f"fragment Again on Me {{ x: subject }}"
    )
    assert f"{2 * half + 1} aliases found. Allowed: {ALIASES}" in await refused(graph, spread, api.office)


async def test_too_many_tokens_are_refused(graph: Graph, api: Any) -> None:
    fields = " ".join(["subject"] * TOKENS)
    messages = await refused(graph, f"{{ me {{ {fields} }} }}", api.office)
    assert any(f"more than {TOKENS} tokens" in m for m in messages), messages


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_is_off_outside_development(graph: Graph, api: Any) -> None:
    messages = await refused(graph, INTROSPECTION, api.office)
    assert any("introspection has been disabled" in m for m in messages), messages
    messages = await refused(graph, '{ __type(name: "Framework") { fields { name } } }', api.office)
    assert any("introspection has been disabled" in m for m in messages), messages


async def test_introspection_is_on_in_development(dev_graph: Graph, api: Any) -> None:
    data = await dev_graph.data(INTROSPECTION, api.office)
    assert data == {"__schema": {"queryType": {"name": "Query"}}}


async def test_no_field_suggestions_outside_development(graph: Graph, dev_graph: Graph, api: Any) -> None:
    [message] = await refused(graph, "{ framewrks { items { id } } }", api.office)
    assert "framewrks" in message and "Did you mean" not in message
    [dev_message] = errors_of(await dev_graph.run("{ framewrks { items { id } } }", api.office))
    assert "Did you mean 'frameworks'" in dev_message


async def test_graphiql_only_in_development(graph: Graph, dev_graph: Graph, api: Any) -> None:
    html = {"Accept": "text/html"}
    page = await dev_graph.http.get("/graphql", headers=html)  # the page itself needs no token
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert (await graph.http.get("/graphql", headers=html | api.office)).status_code == 404
    assert (await graph.http.get("/graphql", headers=html)).status_code == 401
    # Queries are POST only, in every environment (query text stays out of URLs and logs).
    refused_get = await dev_graph.http.get("/graphql", params={"query": "{ me { subject } }"}, headers=api.office)
    assert refused_get.status_code in (400, 405) and "subject" not in refused_get.text


async def test_batched_operations_are_refused(graph: Graph, api: Any) -> None:
    # A list of operations in one request would multiply every per-document limit.
    batch = [{"query": f"{{ {aliases(ALIASES)} }}"}] * 2
    response = await graph.http.post("/graphql", json=batch, headers=api.office)
    assert response.status_code == 400 and "subject" not in response.text
