"""What a new service gets from shared.openapi by declaring routes the house way, and what it is
refused: the rules appraisal, survey and feedback rely on (CONVENTIONS.md, "The API contract")."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Body, Depends, FastAPI
from pydantic import BaseModel, ConfigDict

from shared.api import IdempotencyKey, IfMatch
from shared.auth.deps import CurrentPrincipal, require
from shared.auth.principal import Principal, Role
from shared.errors import PROBLEM_JSON
from shared.openapi import TOKEN_REQUIRED, install_contract, problems


class PlanWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


# Module level: routes here resolve their annotations by name (postponed evaluation).
planners = Annotated[Principal, Depends(require([Role.perf_office]))]


class Problem(BaseModel):
    """A domain model that would shadow the error schema."""

    code: str


def document(*routers: APIRouter) -> dict[str, Any]:
    app = FastAPI(title="t")
    for router in routers:
        app.include_router(router)
    install_contract(app, description="test service")
    return app.openapi()


def operation(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return doc["paths"][path][method]


def test_a_route_gets_its_id_security_and_errors_from_how_it_is_built():
    router = APIRouter(prefix="/api/v1", tags=["plans"])

    @router.post("/plans", name="create", status_code=201)
    async def create_plan(data: PlanWrite, principal: planners, key: IdempotencyKey = None) -> PlanWrite:
        """Create."""
        return data

    @router.patch("/plans/{plan_id}", name="update", responses=problems(404, 409))
    async def update_plan(plan_id: int, data: PlanWrite, principal: CurrentPrincipal, if_match: IfMatch = None) -> None:
        """Update."""

    @router.get("/public/plans", name="list_public")
    async def public_plans() -> list[str]:
        """Public."""
        return []

    doc = document(router)
    create = operation(doc, "/api/v1/plans", "post")
    assert create["operationId"] == "plans.create"
    assert create["security"] == [{"bearerAuth": []}, {"oauth2": []}]
    assert set(create["responses"]) == {"201", "400", "401", "403", "409", "413", "422", "500"}
    update = operation(doc, "/api/v1/plans/{plan_id}", "patch")
    assert update["operationId"] == "plans.update"
    assert set(update["responses"]) == {"200", "401", "403", "404", "409", "412", "413", "422", "428", "500"}
    for status, response in update["responses"].items():
        if status != "200":
            assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
    public = operation(doc, "/api/v1/public/plans", "get")
    assert public["security"] == [] and set(public["responses"]) == {"200", "500"}  # no input: no 422
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert {"Problem", "ProblemItem", "PlanWrite"} <= set(doc["components"]["schemas"])


def test_a_route_can_say_it_needs_a_token_it_checks_itself():
    router = APIRouter(tags=["graph"])

    @router.post("/graph", name="query", openapi_extra=TOKEN_REQUIRED)
    async def query() -> dict[str, str]:
        """Query."""
        return {}

    op = operation(document(router), "/graph", "post")
    assert op["security"] and {"401", "403"} <= set(op["responses"]) and "x-token-required" not in op


def test_the_document_refuses_what_would_break_generated_clients():
    untagged = APIRouter()

    @untagged.get("/x")
    async def x() -> None:
        """X."""

    with pytest.raises(RuntimeError, match="no tag"):
        document(untagged)

    twice = APIRouter(tags=["plans"])

    @twice.get("/a", name="get")
    async def a() -> None:
        """A."""

    @twice.get("/b", name="get")
    async def b() -> None:
        """B."""

    with pytest.raises(RuntimeError, match="used by"):
        document(twice)

    nullable = APIRouter(tags=["plans"])

    @nullable.post("/c", name="publish")
    async def c(data: PlanWrite | None = None) -> None:
        """C."""

    with pytest.raises(RuntimeError, match="optional body"):
        document(nullable)

    fixed = APIRouter(tags=["plans"])

    @fixed.post("/d", name="publish")
    async def d(data: Annotated[PlanWrite, Body()] = PlanWrite(name="x")) -> None:
        """D."""

    assert document(fixed)["paths"]["/d"]["post"]["operationId"] == "plans.publish"


def test_the_problem_schema_name_is_reserved():
    router = APIRouter(tags=["plans"])

    @router.get("/p", name="check")
    async def check() -> Problem:
        """P."""
        return Problem(code="x")

    with pytest.raises(RuntimeError, match="reserved"):
        document(router)


def test_problems_knows_every_status_it_documents():
    assert set(problems(404, 409)) == {404, 409}
    with pytest.raises(ValueError, match="STATUS_TEXT"):
        problems(418)
