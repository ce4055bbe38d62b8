"""The API contract every service publishes: operation ids, tags, the ``Problem`` schema, the error
answers of each operation and its security, applied to FastAPI's OpenAPI document in one place.

A route declares only what is particular to it::

    @router.post("/frameworks/{framework_id}/publish", name="publish", responses=problems(404, 409))

and gets the rest from how it is built: ``<tag>.<name>`` as operation id, 401/403 when it takes a
principal (public otherwise), 412/428 when it takes If-Match, 400/409 with Idempotency-Key, 413 with a
body, 422 when it has any input, 500 always, every one of them ``application/problem+json``."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from shared.auth.principal import Principal
from shared.errors import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"
BEARER_SCHEME, OAUTH2_SCHEME = "bearerAuth", "oauth2"
PROTECTED: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}, {OAUTH2_SCHEME: []}]
TOKEN_URL = "/oauth/token"  # noqa: S105 (a path) the gateway's; services are only reached through it
OPERATION_ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
# No public address exists yet; the lead confirms contact and license before the first release.
CONTACT = {"name": "govperf platform team"}
LICENSE = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
# For ``openapi_extra`` of a route that demands a token without taking a Principal dependency.
TOKEN_REQUIRED: dict[str, Any] = {"x-token-required": True}
# Defined identically by every service (problem+json, the dead-letter routes of shared.messaging):
# the platform document keeps one copy instead of one per service.
SHARED_SCHEMAS = ("Problem", "ProblemItem", "DeadLetterPage", "DeadLetterRead", "DeadLetterAction")
SECURITY_SCHEMES = (BEARER_SCHEME, OAUTH2_SCHEME)
WRITE_METHODS = frozenset({"post", "put", "patch"})


class ProblemItem(BaseModel):
    """One broken rule: the field it concerns and why; rule-specific members (row, column, code,
    path ...) may be added."""

    model_config = ConfigDict(extra="allow")

    field: str | None = Field(default=None, description="Dotted path of the offending input, e.g. `policy.min_share`.")
    message: str | None = Field(default=None, description="What is wrong with it.")
    type: str | None = Field(default=None, description="A machine-readable kind of error.")


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details), with every broken rule in ``errors``."""

    type: str = Field(description="A URN naming the kind of problem, `urn:govperf:problem:<code>`.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong with this request.")
    instance: str | None = Field(default=None, description="The path that was called.")
    request_id: str | None = Field(default=None, description="Quote it to support; it finds the log lines.")
    errors: list[ProblemItem] | None = Field(default=None, description="Every broken rule, each naming its field.")


# What each status means on this platform: (description, example code, example title, example detail).
STATUS_TEXT: dict[int, tuple[str, str, str, str]] = {
    400: ("Malformed request (a bad cursor, ids or header).", "bad-request", "Bad request", "The cursor is not valid."),
    401: (
        "No valid bearer token.",
        "unauthorized",
        "Authentication required",
        "Invalid or expired token.",
    ),
    403: ("Your roles or org scope do not allow this.", "forbidden", "Forbidden", "Your roles do not allow this."),
    404: ("Not found, or not visible to you.", "not-found", "Not found", "No such framework."),
    409: (
        "Conflicts with the resource's state (or an Idempotency-Key reused for another request).",
        "conflict",
        "Conflict",
        "Framework is published; published content never changes.",
    ),
    412: (
        "If-Match names an older version: reload and retry.",
        "precondition-failed",
        "Precondition failed",
        "The resource was changed meanwhile (version 4, you sent 3). Reload and retry.",
    ),
    413: ("The request body is too large.", "payload-too-large", "Payload too large", "Request bodies are limited."),
    415: (
        "The body's media type is not accepted.",
        "unsupported-media-type",
        "Unsupported media type",
        "Send JSON, YAML or xlsx.",
    ),
    422: (
        "Invalid input; `errors` names every field.",
        "validation",
        "Invalid request",
        "The request has invalid fields.",
    ),
    428: (
        "If-Match is required: send the ETag of your last read.",
        "precondition-required",
        "Precondition required",
        'Send If-Match with the ETag of your last read, e.g. If-Match: "3".',
    ),
    429: ("Too many requests; see Retry-After.", "rate-limited", "Too many requests", "Slow down."),
    500: ("An unexpected error (logged with the request id).", "internal", "Internal error", "An unexpected error."),
    502: ("The service behind the gateway gave no valid answer.", "bad-gateway", "Bad gateway", "No valid answer."),
    503: ("The service behind the gateway is unavailable.", "upstream-unavailable", "Service unavailable", "Retry."),
    504: ("The service behind the gateway timed out.", "upstream-timeout", "Service timed out", "Retry."),
}
# What the gateway adds to every operation it routes to a service.
GATEWAY_ROUTED = (429, 502, 503, 504)


def problem_response(status: int) -> dict[str, Any]:
    """One documented error answer: problem+json with an example."""
    description, code, title, detail = STATUS_TEXT[status]
    example: dict[str, Any] = {
        "type": f"urn:govperf:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if status == 422:
        example["errors"] = [{"field": "name", "message": "Field required", "type": "missing"}]
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}, "example": example}},
    }


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route adds to the defaults, for ``responses=``: ``problems(404, 409)``."""
    unknown = [s for s in statuses if s not in STATUS_TEXT]
    if unknown:
        raise ValueError(f"no problem text for status {unknown}; add it to shared.openapi.STATUS_TEXT")
    return {status: problem_response(status) for status in statuses}


def _returns_principal(call: Callable[..., Any] | None) -> bool:
    if call is None:
        return False
    try:
        annotation = inspect.signature(call, eval_str=True).return_annotation
    except (NameError, TypeError, ValueError):
        return False
    return inspect.isclass(annotation) and issubclass(annotation, Principal)


def requires_principal(dependant: Dependant) -> bool:
    """A route is protected when a dependency (at any depth) returns a ``Principal``; one returning
    ``Principal | None`` admits anonymous callers."""
    return any(_returns_principal(d.call) or requires_principal(d) for d in dependant.dependencies)


def api_routes(routes: Iterable[Any]) -> list[Any]:
    """The API routes as mounted, with prefixes and tags of their routers applied (FastAPI keeps
    included routers nested and resolves them through route contexts)."""
    return [
        context for context in routing.iter_route_contexts(list(routes)) if isinstance(context.original_route, APIRoute)
    ]


def operation_id(route: Any, method: str) -> str:
    """``<first tag>.<route name>`` (the name is the decorator's ``name=`` or the function's), with
    ``_<method>`` when one function serves several methods."""
    if not route.tags:
        raise RuntimeError(f"route {route.path} has no tag: give its router tags=[<aggregate>]")
    suffix = f"_{method.lower()}" if len(route.methods) > 1 else ""
    return f"{_identifier(route.tags[0])}.{_identifier(route.name)}{suffix}"


def _identifier(text: str) -> str:
    """``org units`` -> ``org_units``: a tag or name as it can appear in a method name."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def security_schemes(token_url: str) -> dict[str, Any]:
    return {
        BEARER_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        OAUTH2_SCHEME: {
            "type": "oauth2",
            "description": "Tokens from the gateway: people log in with a password, systems with client credentials.",
            "flows": {
                "password": {"tokenUrl": token_url, "refreshUrl": token_url, "scopes": {}},
                "clientCredentials": {"tokenUrl": token_url, "scopes": {}},
            },
        },
    }


def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {**definitions, "Problem": schema}


def _is_fastapi_validation(response: Mapping[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _nullable_body(operation: Mapping[str, Any]) -> bool:
    for media in operation.get("requestBody", {}).get("content", {}).values():
        if any(option.get("type") == "null" for option in media.get("schema", {}).get("anyOf", [])):
            return True
    return False


def _header_names(operation: Mapping[str, Any]) -> set[str]:
    return {p["name"].lower() for p in operation.get("parameters", []) if p.get("in") == "header"}


def takes_input(dependant: Dependant) -> bool:
    """Whether FastAPI validates anything of the request for this route (and so may answer 422)."""
    own = (dependant.path_params, dependant.query_params, dependant.header_params, dependant.cookie_params)
    return any(own) or bool(dependant.body_params) or any(takes_input(d) for d in dependant.dependencies)


def default_statuses(operation: Mapping[str, Any], method: str, *, protected: bool, validated: bool) -> list[int]:
    """The errors every operation of this shape can answer, whatever the route adds."""
    statuses = [500]
    headers = _header_names(operation)
    if protected:
        statuses += [401, 403]
    if validated:
        statuses.append(422)
    if method in WRITE_METHODS or "requestBody" in operation:
        statuses.append(413)
    if "if-match" in headers:
        statuses += [412, 428]
    if "idempotency-key" in headers:
        statuses += [400, 409]
    return statuses


def apply_conventions(
    document: dict[str, Any],
    routes: Iterable[Any],
    *,
    default_problems: Iterable[int] = (),
) -> dict[str, Any]:
    """Rewrite FastAPI's document in place: security per operation, problem+json errors, no
    ``HTTPValidationError``; raises on a duplicate or malformed operation id."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})
    for name, schema in _problem_schemas().items():
        existing = components["schemas"].get(name)
        if existing is not None and existing != schema:
            raise RuntimeError(f"schema name {name!r} is reserved for problem details; rename the model")
        components["schemas"][name] = schema
    components.setdefault("securitySchemes", {}).update(security_schemes(TOKEN_URL))
    seen: dict[str, str] = {}
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        for method in route.methods:
            operation = document["paths"][route.path_format][method.lower()]
            protected = bool(operation.pop("x-token-required", False)) or requires_principal(route.dependant)
            op_id = operation["operationId"] = operation_id(route, method)
            if not OPERATION_ID_RE.fullmatch(op_id):
                raise RuntimeError(f"operation id {op_id!r} of {method} {route.path} is not <aggregate>.<action>")
            if op_id in seen:
                raise RuntimeError(f"operation id {op_id!r} is used by {seen[op_id]} and {method} {route.path}")
            seen[op_id] = f"{method} {route.path}"
            if _nullable_body(operation):
                raise RuntimeError(
                    f"{method} {route.path}: an optional body is `Annotated[X, Body()] = X()`, not `X | None` "
                    "(generated clients would send their 'unset' marker)"
                )
            operation["security"] = PROTECTED if protected else []
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if "422" in responses and _is_fastapi_validation(responses["422"]):
                del responses["422"]
            derived = default_statuses(
                operation, method.lower(), protected=protected, validated=takes_input(route.dependant)
            )
            for status in [*derived, *default_problems]:
                responses.setdefault(str(status), problem_response(status))
            operation["responses"] = dict(sorted(responses.items()))
    for unused in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(unused, None)
    return document


def _model_classes(base: type[BaseModel] = BaseModel) -> Iterable[type[BaseModel]]:
    for sub in base.__subclasses__():
        yield sub
        yield from _model_classes(sub)


def restore_example_nulls(document: dict[str, Any]) -> None:
    """FastAPI drops every None from the document, so an example with ``"description": null``
    would lose a required key; put the models' own examples back."""
    by_name: dict[str, set[type[BaseModel]]] = {}
    for model in _model_classes():
        by_name.setdefault(model.__name__, set()).add(model)
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        models = by_name.get(name, set())
        if "examples" in schema and len(models) == 1:
            own = next(iter(models)).model_json_schema().get("examples")
            if own is not None:
                schema["examples"] = own


def install_contract(
    app: FastAPI,
    *,
    description: str,
    tags: list[dict[str, Any]] | None = None,
    default_problems: Iterable[int] = (),
) -> None:
    """Make ``app.openapi()`` build the document the platform's way (built once, then cached)."""
    extra = tuple(default_problems)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=description,
                routes=app.routes,
                tags=tags,
                contact=CONTACT,
                license_info=LICENSE,
                separate_input_output_schemas=False,
            )
            restore_example_nulls(document)
            app.openapi_schema = apply_conventions(document, app.routes, default_problems=extra)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
