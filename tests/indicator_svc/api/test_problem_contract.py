"""Every kind of 4xx indicator_svc really answers is problem+json that validates against the
``Problem`` schema of its OpenAPI document, and is documented on the operation that gave it."""

from __future__ import annotations

import json
import uuid

import jsonschema

from tests.indicator_svc.api.support import BASE, PROBLEM_JSON


def problem_validator(app) -> jsonschema.Draft202012Validator:
    schemas = app.openapi()["components"]["schemas"]
    schema = {**schemas["Problem"], "$defs": schemas}
    # Refs point at #/components/schemas/X; resolve them inside $defs.
    resolved = json.loads(json.dumps(schema).replace("#/components/schemas/", "#/$defs/"))
    return jsonschema.Draft202012Validator(resolved)


def documented(app, method: str, path: str, status: int) -> bool:
    operation = app.openapi()["paths"][path][method]
    return PROBLEM_JSON in operation["responses"][str(status)]["content"]


async def test_each_kind_of_4xx_validates_against_the_documented_problem_schema(client, api, indicator_app):
    validator = problem_validator(indicator_app)
    framework = await api.create_small()
    fid = framework["id"]
    one = "/api/v1/frameworks/{framework_id}"
    gz = api.auth("perf_office", org_path="/gd/gz")
    cases = [
        (400, "get", "/api/v1/frameworks", await client.get(BASE, params={"cursor": "!!"}, headers=api.office)),
        (401, "get", "/api/v1/frameworks", await client.get(BASE)),
        (
            403,
            "post",
            "/api/v1/frameworks",
            await client.post(
                BASE,
                json={"code": "X", "name": "X", "org_unit_id": str(uuid.uuid4()), "org_path": "/gd/gz"},
                headers=api.office,
            ),
        ),
        (404, "get", one, await client.get(f"{BASE}/{fid}", headers=gz)),
        (
            409,
            "post",
            "/api/v1/frameworks/{framework_id}/versions",
            await client.post(f"{BASE}/{fid}/versions", headers=api.office),
        ),
        (
            412,
            "patch",
            one,
            await client.patch(f"{BASE}/{fid}", json={"name": "x"}, headers={**api.office, "If-Match": '"99"'}),
        ),
        (
            413,
            "post",
            "/api/v1/frameworks/import",
            await client.post(
                f"{BASE}/import",
                params={"format": "json", "org_unit_id": str(uuid.uuid4()), "org_path": "/gd/sz"},
                content=b"x" * (indicator_app.state.settings.max_body_bytes + 1),
                headers=api.office,
            ),
        ),
        (
            415,
            "post",
            "/api/v1/frameworks/import",
            await client.post(
                f"{BASE}/import",
                params={"org_unit_id": str(uuid.uuid4()), "org_path": "/gd/sz"},
                content=b"{}",
                headers={**api.office, "Content-Type": "text/csv"},
            ),
        ),
        (422, "patch", one, await client.patch(f"{BASE}/{fid}", json={"total_points": -1}, headers=api.office)),
        (428, "patch", one, await client.patch(f"{BASE}/{fid}", json={"name": "x"}, headers=api.office)),
    ]
    for status, method, path, response in cases:
        assert response.status_code == status, (status, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON), status
        body = response.json()
        validator.validate(body)
        assert body["status"] == status
        assert documented(indicator_app, method, path, status), (method, path, status)
