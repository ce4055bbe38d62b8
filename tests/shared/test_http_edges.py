"""Request id, body cap and problem+json rendering, on a bare app built from the shared pieces."""

import httpx
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from shared.auth.principal import path_within
from shared.errors import Conflict, install_error_handlers
from shared.ids import new_id
from shared.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from shared.pagination import decode_cursor, encode_cursor


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("Someone was faster.")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret database password is hunter2")

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=1024)
    app.add_middleware(RequestContextMiddleware)
    return app


def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_request_id_is_echoed_or_created():
    async with client() as http:
        given_id = await http.get("/conflict", headers={"X-Request-ID": "abc-123"})
        made = await http.get("/conflict")
        hostile = await http.get("/conflict", headers={"X-Request-ID": "x" * 500})
    assert given_id.headers["x-request-id"] == "abc-123"
    assert given_id.json()["request_id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "x" * 500


async def test_oversized_body_is_413_problem_json():
    async with client() as http:
        declared = await http.post(
            "/items", content=b"{" + b" " * 2000 + b"}", headers={"content-type": "application/json"}
        )

        async def chunks():
            for _ in range(10):
                yield b" " * 200

        streamed = await http.post("/items", content=chunks(), headers={"content-type": "application/json"})
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 413


async def test_errors_are_problem_json_and_leak_nothing():
    async with client() as http:
        invalid = await http.post("/items", json={"name": "a", "extra": 1})
        conflict = await http.get("/conflict")
        crash = await http.get("/boom")
        missing = await http.get("/nowhere")
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "extra"
    assert conflict.status_code == 409 and conflict.json()["detail"] == "Someone was faster."
    assert crash.status_code == 500
    assert "hunter2" not in crash.text and "Traceback" not in crash.text
    assert missing.status_code == 404
    for response in (invalid, conflict, crash, missing):
        assert response.headers["content-type"] == "application/problem+json"


segment = st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True)
paths = st.lists(segment, max_size=5).map(lambda parts: "/" + "/".join(parts))


@given(paths, paths)
def test_path_within_is_prefix_by_whole_segments(scope, path):
    inside = path_within(path, scope)
    scope_parts = [p for p in scope.split("/") if p]
    path_parts = [p for p in path.split("/") if p]
    assert inside == (path_parts[: len(scope_parts)] == scope_parts)


@given(st.uuids())
def test_cursor_round_trips(value):
    assert decode_cursor(encode_cursor(value)) == value


def test_new_ids_are_time_ordered():
    ids = [new_id() for _ in range(100)]
    assert ids == sorted(ids)


async def test_require_checks_roles_and_the_targeted_scope(dev_keys, make_token):
    from typing import Annotated

    from fastapi import Depends

    from shared.auth.deps import require
    from shared.auth.jwt import KeySet, TokenVerifier
    from shared.auth.principal import Principal, Role

    app = make_app()
    keys = KeySet(path=dev_keys.jwks_path)
    app.state.verifier = TokenVerifier(keys, algorithm="ES256", issuer="govperf", audience="govperf")
    office = require({Role.perf_office}, scope=lambda request: request.query_params.get("org_path"))

    @app.get("/plans")
    async def plans(principal: Annotated[Principal, Depends(office)]) -> dict[str, str]:
        return {"subject": principal.subject}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

        def get(token: str, org_path: str) -> object:
            return http.get("/plans", params={"org_path": org_path}, headers={"Authorization": f"Bearer {token}"})

        inside = await get(make_token("perf_office", org_path="/gd/sz"), "/gd/sz/ft")
        outside = await get(make_token("perf_office", org_path="/gd/sz"), "/gd/gz")
        wrong_role = await get(make_token("audit", org_path="/gd"), "/gd/sz")
        anonymous = await http.get("/plans", params={"org_path": "/gd"})
    assert inside.status_code == 200
    assert outside.status_code == 403 and wrong_role.status_code == 403
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
