"""The platform's aggregated OpenAPI document as an integrator meets it: a Python client generates
from it without a warning, every operation keeps its answers, and errors are documented as problem+json."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from services.gateway.api.docs import merge
from services.gateway.app import create_app as create_gateway
from services.gateway.config import Settings as GatewaySettings
from services.gateway.ratelimit import RateLimitMiddleware
from shared.errors import PROBLEM_JSON
from shared.stack import SERVICES

# Building the documents needs no server: nothing here connects until the lifespan runs.
OFFLINE = {"env": "test", "database_url": "postgresql+asyncpg://u@h/db", "nats_url": "nats://h", "jwks_file": "x"}
PUBLIC_URL = "https://api.govperf.example"
# RFC 6749 5.2: the token endpoints answer OAuth errors, not problem+json.
OAUTH_ANSWERS = {("/oauth/token", "400"), ("/oauth/token", "401"), ("/oauth/revoke", "400"), ("/oauth/revoke", "401")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document the gateway serves with every service of shared/stack.py up: a service added
    there is held to the same contract without touching this test."""
    gateway = create_gateway(GatewaySettings(**OFFLINE, public_url=PUBLIC_URL))
    services = {}
    for spec in SERVICES:
        if spec.name == "gateway":
            continue
        module = importlib.import_module(spec.module)
        settings_class = importlib.import_module(spec.module.rsplit(".", 1)[0] + ".config").Settings
        services[spec.name] = module.create_app(settings_class(**OFFLINE)).openapi()
    assert "indicator" in services
    return merge(gateway.openapi(), services, [], public_url=PUBLIC_URL)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_operation_ids_are_short_stable_and_unique(document):
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    assert "indicator.frameworks.publish" in ids and "admin.create_user" in ids and "auth.token" in ids
    assert all("api_v1" not in i and len(i) <= 64 for i in ids), ids


def test_every_4xx_and_5xx_is_problem_json_with_the_problem_schema(document):
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, op in operations(document):
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        assert {"500"} <= set(errors), (method, path)
        for status, response in errors.items():
            if (path, status) in OAUTH_ANSWERS:
                continue
            media = response["content"][PROBLEM_JSON]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
            assert media["example"]["status"] == int(status)


def test_security_is_per_operation_and_public_routes_say_so(document):
    assert "security" not in document  # no global "anonymous is fine too"
    schemes = document["components"]["securitySchemes"]
    flows = schemes["oauth2"]["flows"]
    assert flows["password"]["tokenUrl"] == flows["clientCredentials"]["tokenUrl"] == f"{PUBLIC_URL}/oauth/token"
    by_path = {(p, m): op for p, m, op in operations(document)}
    assert by_path[("/oauth/token", "post")]["security"] == []
    assert by_path[("/.well-known/jwks.json", "get")]["security"] == []
    protected = by_path[("/api/v1/indicator/frameworks/{framework_id}/publish", "post")]
    assert protected["security"] == [{"bearerAuth": []}, {"oauth2": []}]
    assert {"401", "403", "404", "409", "412", "428", "429", "503"} <= set(protected["responses"])
    assert document["servers"] == [{"url": PUBLIC_URL, "description": "the govperf gateway"}]
    assert document["info"]["license"]["name"] and document["info"]["contact"]["name"]


def test_schema_examples_are_valid_instances(document):
    schemas = document["components"]["schemas"]
    resolvable = json.loads(json.dumps(schemas).replace("#/components/schemas/", "#/$defs/"))
    with_examples = [name for name, schema in schemas.items() if schema.get("examples")]
    assert {"indicator_FrameworkCreate", "indicator_FrameworkRead", "indicator_FrameworkPublish"} <= set(with_examples)
    for name in with_examples:
        validator = jsonschema.Draft202012Validator({**resolvable[name], "$defs": resolvable})
        for example in schemas[name]["examples"]:
            validator.validate(example)


async def test_the_gateways_429_validates_against_the_documented_problem(document):
    async def ok(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limited_app = RateLimitMiddleware(ok, per_minute=1, burst=1, token_per_minute=6)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited_app), base_url="http://gw") as client:
        answers = [await client.get("/api/v1/indicator/frameworks") for _ in range(3)]
    limited = answers[-1]
    assert limited.status_code == 429 and limited.headers["content-type"].startswith(PROBLEM_JSON)
    schemas = json.loads(json.dumps(document["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/"))
    jsonschema.Draft202012Validator({**schemas["Problem"], "$defs": schemas}).validate(limited.json())
    assert "429" in document["paths"]["/api/v1/indicator/frameworks"]["get"]["responses"]


def test_schema_titles_are_unique_so_generated_classes_never_collide(document):
    schemas = document["components"]["schemas"]
    titles = [schema.get("title", name) for name, schema in schemas.items()]
    assert len(titles) == len(set(titles)), sorted(t for t in titles if titles.count(t) > 1)
    prefixed = {name: schema for name, schema in schemas.items() if name.startswith("indicator_")}
    assert prefixed and all(schema["title"] == name for name, schema in prefixed.items())


def test_no_input_output_schema_splits(document):
    assert not [n for n in document["components"]["schemas"] if n.endswith(("-Input", "-Output"))]


def test_openapi_python_client_generates_everything_without_a_warning(document, tmp_path: Path):
    generator = Path(sys.executable).with_name("openapi-python-client")
    if not generator.exists():
        pytest.fail("openapi-python-client is missing: pip install -e '.[dev]'")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter needed to judge the output
    out = tmp_path / "client"
    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(out),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output and "WARNING" not in output, output
    modules = {p.stem: p.read_text() for p in (out / "api").rglob("*.py") if p.stem != "__init__"}
    assert len(modules) == len(operations(document))
    for _, _, op in operations(document):
        module = op["operationId"].replace(".", "_")
        source = modules[module]
        for status in op["responses"]:
            # Every documented answer is parsed by the client, none dropped.
            assert f"response.status_code == {status}" in source, (module, status)
    shutil.rmtree(out)
