"""Upstream failures become GraphQL errors with a stable code and no internals; bugs are masked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.upstream import HttpxTransport
from tests.gateway.graphql.conftest import Graph

LIST = "{ frameworks { items { id } } }"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def upstream(gateway: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Callable[[Handler], list[httpx.Request]]:
    """Replace indicator_svc with ``handler`` for one test; returns the requests it received."""

    def install(handler: Handler) -> list[httpx.Request]:
        received: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            received.append(request)
            return handler(request)

        mock = httpx.AsyncClient(transport=httpx.MockTransport(record))
        monkeypatch.setattr(gateway.state.upstreams, "transport", HttpxTransport(mock))
        return received

    return install


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    [error] = body["errors"]
    assert isinstance(error, dict)
    assert "Traceback" not in str(body) and "internal-secret" not in str(body), body
    return error


async def test_unreachable_service_is_unavailable_not_a_500(graph: Graph, api: Any, upstream: Any) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connect to 10.0.0.7:8001 refused (internal-secret)", request=request)

    upstream(refuse)
    body = await graph.run(LIST, api.office)
    error = only_error(body)
    assert error["extensions"] == {"code": "UNAVAILABLE"} and error["path"] == ["frameworks"]
    assert "10.0.0.7" not in error["message"] and body["data"] is None


async def test_service_error_is_unavailable_without_its_body(graph: Graph, api: Any, upstream: Any) -> None:
    upstream(lambda request: httpx.Response(500, json={"detail": "asyncpg internal-secret stack"}))
    error = only_error(await graph.run('{ framework(id: "00000000-0000-7000-8000-000000000001") { id } }', api.office))
    assert error["extensions"]["code"] == "UNAVAILABLE" and error["path"] == ["framework"]


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "UNAUTHENTICATED"), (403, "FORBIDDEN"), (404, "NOT_FOUND"), (429, "RATE_LIMITED"), (502, "UNAVAILABLE")],
)
async def test_service_statuses_map_to_stable_codes(
    graph: Graph, api: Any, upstream: Any, status: int, code: str
) -> None:
    upstream(lambda request: httpx.Response(status, json={"detail": "internal-secret"}))
    assert only_error(await graph.run(LIST, api.office))["extensions"] == {"code": code}


async def test_a_bad_cursor_is_bad_user_input_from_the_service(graph: Graph, api: Any) -> None:
    error = only_error(await graph.run('{ frameworks(after: "not-a-cursor!") { items { id } } }', api.office))
    assert error["extensions"] == {"code": "BAD_USER_INPUT"} and error["message"] == "The cursor is not valid."


@pytest.mark.parametrize("first", [0, 101])
async def test_page_size_is_capped_at_100(graph: Graph, api: Any, first: int) -> None:
    error = only_error(await graph.run(f"{{ frameworks(first: {first}) {{ items {{ id }} }} }}", api.office))
    assert error["extensions"] == {"code": "BAD_USER_INPUT"} and "between 1 and 100" in error["message"]


async def test_an_unexpected_failure_is_masked_outside_development(graph: Graph, api: Any, upstream: Any) -> None:
    upstream(lambda request: httpx.Response(200, json={"items": [{"internal-secret": True}]}))
    error = only_error(await graph.run(LIST, api.office))
    assert error["message"] == "Unexpected error." and "extensions" not in error


async def test_an_unexpected_failure_shows_in_development(
    dev_graph: Graph, dev_gateway: FastAPI, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = httpx.MockTransport(lambda request: httpx.Response(200, json={"items": [{"bogus": 1}]}))
    monkeypatch.setattr(dev_gateway.state.upstreams, "transport", HttpxTransport(httpx.AsyncClient(transport=garbage)))
    [error] = (await dev_graph.run(LIST, api.office))["errors"]
    assert "validation error" in error["message"]  # the developer sees what broke


async def test_the_callers_token_and_request_id_are_forwarded(graph: Graph, api: Any, upstream: Any) -> None:
    received = upstream(lambda request: httpx.Response(200, json={"items": [], "next_cursor": None}))
    response = await graph.post(LIST, api.office | {"X-Request-ID": "trace-42"})
    assert response.status_code == 200 and response.json() == {"data": {"frameworks": {"items": []}}}
    [request] = received
    assert request.url.path == "/api/v1/frameworks" and request.url.params["limit"] == "50"
    assert request.headers["authorization"] == api.office["Authorization"]
    assert request.headers["x-request-id"] == "trace-42" == response.headers["x-request-id"]
