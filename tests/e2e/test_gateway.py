"""The gateway in front of a running indicator_svc: routing, streaming, failures, tokens, limits, CORS,
docs. Everything here goes over real sockets to real processes."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
import zipfile
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.gateway.upstream import BUFFER_BYTES
from services.indicator_svc.framework import codecs
from services.indicator_svc.framework.content import FrameworkContent, IndicatorSpec
from shared.auth.jwt import public_jwk, sign
from tests.e2e.conftest import CORS_ORIGIN, ORG_PATH, ORG_UNIT, RATE_BURST, SLOW_UPSTREAM_TIMEOUT, Platform

pytestmark = pytest.mark.slow
PROBLEM_JSON = "application/problem+json"
IMPORT = {"format": "json", "org_unit_id": ORG_UNIT, "org_path": ORG_PATH}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("urn:govperf:problem:")
    return body


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A problem body without what legitimately differs per request and per route."""
    return {k: v for k, v in body.items() if k not in {"instance", "request_id"}}


async def create(http: httpx.AsyncClient, platform: Platform, headers: dict[str, str], **fields: Any) -> httpx.Response:
    body = {
        "code": f"E2E-{uuid.uuid4().hex[:8]}",
        "name": "E2E framework",
        "org_unit_id": ORG_UNIT,
        "org_path": ORG_PATH,
        **fields,
    }
    response = await http.post(platform.via_gateway("/frameworks"), json=body, headers=headers)
    if response.status_code == 201:
        platform.created.append(response.json()["id"])
    return response


def big_framework(indicators: int = 2000) -> bytes:
    """20 areas of 99 indicators each: the largest framework the service accepts."""
    areas = 20
    specs = []
    for a in range(areas):
        specs.append(IndicatorSpec(code=f"A{a:02d}", name=f"Area {a} " + "x" * 60, weight=5, category="social"))
        specs += [
            IndicatorSpec(
                code=f"A{a:02d}-{i:03d}",
                parent_code=f"A{a:02d}",
                name=f"Indicator {a}.{i}",
                weight=1,
                description="Measured yearly from the statistics bureau. " * 8,
            )
            for i in range(indicators // areas - 1)
        ]
    content = FrameworkContent(code=f"E2E-BIG-{uuid.uuid4().hex[:6]}", name="Large framework", indicators=specs)
    return codecs.to_json(content)


def foreign_token() -> str:
    """A well-formed token, claims and all, signed by a key nobody trusts."""
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    now = int(time.time())
    claims = {
        "sub": "mallory",
        "roles": ["admin"],
        "org_id": ORG_UNIT,
        "org_path": "/",
        "iss": "govperf",
        "aud": "govperf",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    return sign(claims, pem, algorithm="ES256", kid=public_jwk(pem, "ES256")["kid"])


def upstream_count(metrics: str, service: str) -> float:
    prefix = f'govperf_gateway_upstream_requests_total{{service="{service}"}} '
    return sum(float(line[len(prefix) :]) for line in metrics.splitlines() if line.startswith(prefix))


# --------------------------------------------------------------------------- routing


async def test_get_through_the_gateway_equals_going_straight(http, platform, headers):
    h = headers()
    created = await create(http, platform, h)
    assert created.status_code == 201, created.text
    framework_id = created.json()["id"]
    via = await http.get(platform.via_gateway(f"/frameworks/{framework_id}"), headers=h)
    direct = await http.get(platform.direct(f"/frameworks/{framework_id}"), headers=h)
    assert via.status_code == direct.status_code == 200
    assert via.json() == direct.json()
    assert via.headers["etag"] == direct.headers["etag"]
    assert via.headers["content-type"] == direct.headers["content-type"]
    # The query string travels: a batch read by ids through the gateway finds it.
    listed = await http.get(platform.via_gateway("/frameworks"), params={"ids": framework_id, "limit": 5}, headers=h)
    assert [f["id"] for f in listed.json()["items"]] == [framework_id]


async def test_post_through_the_gateway_equals_going_straight(http, platform, headers):
    h = headers()
    bad = {"code": "", "name": "x", "org_unit_id": "not-a-uuid", "org_path": ORG_PATH, "extra": 1}
    via = await http.post(platform.via_gateway("/frameworks"), json=bad, headers=h)
    direct = await http.post(platform.direct("/frameworks"), json=bad, headers=h)
    assert comparable(assert_problem(via, 422)) == comparable(assert_problem(direct, 422))
    # Idempotency-Key is forwarded: the same create twice through the gateway is one framework.
    key = {"Idempotency-Key": uuid.uuid4().hex, **h}
    code = f"E2E-{uuid.uuid4().hex[:8]}"
    first = await create(http, platform, key, code=code)
    again = await create(http, platform, key, code=code)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    # Location names the gateway's path, never the service's own one behind it.
    assert first.headers["location"] == f"/api/v1/indicator/frameworks/{first.json()['id']}"


async def test_request_id_and_trace_reach_the_service(http, platform, headers):
    missing = f"/frameworks/{uuid.uuid4()}"
    r = await http.get(platform.via_gateway(missing), headers={"X-Request-ID": "e2e-trace-1", **headers()})
    body = assert_problem(r, 404)
    # The service's own 404 names the gateway's request id: it was forwarded, and echoed once.
    assert body["request_id"] == "e2e-trace-1"
    assert r.headers.get_list("x-request-id") == ["e2e-trace-1"]
    assert body["instance"] == f"/api/v1{missing}"


async def test_unknown_service_and_dot_segments_are_404_at_the_gateway(http, platform, headers):
    assert_problem(await http.get(f"{platform.gateway.url}/api/v1/nosuch/things", headers=headers()), 404)
    # Raw dot segments must not climb out of /api/v1 on the service (to its /metrics, say).
    url = httpx.URL(f"{platform.gateway.url}/api/v1/indicator/%2e%2e/%2e%2e/metrics")
    assert_problem(await http.get(url, headers=headers()), 404)


async def test_anonymous_calls_are_forwarded_and_the_service_decides(http, platform):
    r = await http.get(platform.via_gateway("/frameworks"))
    body = assert_problem(r, 401)
    assert body["instance"] == "/api/v1/frameworks"  # the service's answer, not the gateway's


# --------------------------------------------------------------------------- streaming


async def test_large_export_streams_through_unchanged(http, platform, headers):
    h = headers()
    document = big_framework()
    assert len(document) > 1_000_000
    imported = await http.post(
        platform.via_gateway("/frameworks/import"),
        params=IMPORT,
        content=document,
        headers={"Content-Type": "application/json", **h},
    )
    assert imported.status_code == 201, imported.text[:2000]
    framework_id = imported.json()["id"]
    platform.created.append(framework_id)
    indicators = await http.get(platform.via_gateway(f"/frameworks/{framework_id}/indicators"), headers=h)
    assert len(indicators.json()["items"]) == 2000
    for fmt in ("json", "xlsx"):
        path = f"/frameworks/{framework_id}/export?format={fmt}"
        async with http.stream("GET", platform.via_gateway(path), headers=h) as via_stream:
            assert via_stream.status_code == 200
            chunks = [chunk async for chunk in via_stream.aiter_raw()]
            via_headers = via_stream.headers
        via = b"".join(chunks)
        direct = await http.get(platform.direct(path), headers=h)
        assert direct.status_code == 200
        assert via_headers["content-disposition"] == direct.headers["content-disposition"]
        assert int(via_headers["content-length"]) == len(via)
        if fmt == "json":
            assert via == direct.content
        else:
            assert_same_workbook(via, direct.content)


def assert_same_workbook(a: bytes, b: bytes) -> None:
    """Equal bytes, except that openpyxl stamps the save time into docProps/core.xml: two downloads
    a second apart differ there and only there."""
    if a == b:
        return
    with zipfile.ZipFile(io.BytesIO(a)) as za, zipfile.ZipFile(io.BytesIO(b)) as zb:
        assert za.namelist() == zb.namelist()
        differing = [n for n in za.namelist() if za.read(n) != zb.read(n)]
    assert differing == ["docProps/core.xml"]


# --------------------------------------------------------------------------- upstream failures


async def test_slow_upstream_is_a_quick_504(http, platform, headers):
    started = time.monotonic()
    r = await http.get(f"{platform.gateway.url}/api/v1/slow/anything", headers=headers())
    elapsed = time.monotonic() - started
    body = assert_problem(r, 504)
    # The slow service's own timeout, not the 5 s default; the upstream would take 12 s.
    assert SLOW_UPSTREAM_TIMEOUT - 0.5 < elapsed < SLOW_UPSTREAM_TIMEOUT + 2, elapsed
    assert "127.0.0.1" not in r.text and "Timeout" not in r.text  # leaks nothing
    assert body["title"] == "Service timed out"


async def test_upstream_down_is_503(http, platform, headers):
    r = await http.post(f"{platform.gateway.url}/api/v1/down/things", json={"a": 1}, headers=headers())
    assert_problem(r, 503)
    assert "127.0.0.1" not in r.text


# --------------------------------------------------------------------------- tokens


async def test_dev_tokens_work_at_the_gateway_and_the_service(http, platform, headers):
    h = headers("audit", org_path="/")
    assert (await http.get(platform.via_gateway("/frameworks?limit=1"), headers=h)).status_code == 200
    assert (await http.get(platform.direct("/frameworks?limit=1"), headers=h)).status_code == 200


async def forwarded_so_far(platform: Platform) -> float | None:
    """The gateway's count of requests sent to indicator_svc (None while /metrics cannot answer:
    it reads the identity outbox, which exists once the identity schema is migrated)."""
    async with httpx.AsyncClient(timeout=10) as fresh:  # a failing /metrics closes its connection
        r = await fresh.get(f"{platform.gateway.url}/metrics")
    return upstream_count(r.text, "indicator") if r.status_code == 200 else None


async def test_foreign_tokens_are_refused_at_the_gateway_and_the_service(http, platform, headers):
    h = {"Authorization": f"Bearer {foreign_token()}"}
    assert (await http.get(platform.via_gateway("/frameworks?limit=1"), headers=headers())).status_code == 200
    before = await forwarded_so_far(platform)
    assert_problem(await http.get(platform.via_gateway("/frameworks"), headers=h), 401)
    after = await forwarded_so_far(platform)
    if before is not None:
        assert before >= 1 and after == before  # refused at the door, never forwarded
    assert_problem(await http.get(platform.direct("/frameworks"), headers=h), 401)
    for junk in ("Bearer not.a.jwt", "Bearer " + "a" * 9000, "Basic YWRtaW46YWRtaW4="):
        assert_problem(await http.get(platform.via_gateway("/frameworks"), headers={"Authorization": junk}), 401)


async def test_a_password_grant_token_works_at_the_gateway_and_the_service(http, platform, headers):
    # A user of its own: the identity schema is shared with other test modules, so the first
    # admin (and its password) may come from another gateway started earlier in the session.
    username, password = f"e2e{uuid.uuid4().hex[:10]}", "e2e-" + uuid.uuid4().hex
    created = await http.post(
        f"{platform.gateway.url}/api/v1/admin/users",
        json={
            "username": username,
            "display_name": "E2E office",
            "password": password,
            "roles": ["perf_office"],
            "org_unit_id": ORG_UNIT,
            "org_path": ORG_PATH,
        },
        headers=headers("admin", org_path="/"),
    )
    assert created.status_code == 201, created.text
    r = await http.post(
        f"{platform.gateway.url}/oauth/token",
        data={"grant_type": "password", "username": username, "password": password},
    )
    assert r.status_code == 200, r.text
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await http.get(platform.via_gateway("/frameworks?limit=1"), headers=h)).status_code == 200
    # The service verifies the gateway's token against the gateway's JWKS.
    assert (await http.get(platform.direct("/frameworks?limit=1"), headers=h)).status_code == 200
    wrong = await http.post(
        f"{platform.gateway.url}/oauth/token",
        data={"grant_type": "password", "username": username, "password": "not-the-password"},
    )
    assert wrong.status_code in {400, 401}


# --------------------------------------------------------------------------- limits and CORS


async def test_a_principal_over_its_rate_limit_gets_429_with_retry_after(http, platform, headers):
    h = headers()
    url = f"{platform.gateway.url}/api/v1/nosuch/x"  # answered by the gateway: no upstream load
    # All at once: on a loaded machine, one by one, the bucket refills as fast as it drains.
    responses = await asyncio.gather(*(http.get(url, headers=h) for _ in range(2 * RATE_BURST)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) == {404, 429} and statuses.count(404) >= RATE_BURST, statuses
    limited = next(r for r in responses if r.status_code == 429)
    body = assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert body["request_id"] == limited.headers["x-request-id"]
    # Another principal from the same address is not affected.
    assert (await http.get(url, headers=headers())).status_code == 404


async def test_anonymous_and_token_endpoint_limits_are_per_address(platform):
    # Loopback is a /8: a second source address is a second client to the gateway.
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.7")
    async with httpx.AsyncClient(transport=transport, timeout=10) as other:
        # All at once, so that refills during a slow run cannot hide the limit.
        token_answers = await asyncio.gather(
            *(
                other.post(
                    f"{platform.gateway.url}/oauth/token",
                    data={"grant_type": "password", "username": "nobody", "password": "guess"},
                )
                for _ in range(12)
            )
        )
        token_statuses = [r.status_code for r in token_answers]
        assert token_statuses.count(429) >= 2, token_statuses
        anonymous = await asyncio.gather(
            *(other.get(f"{platform.gateway.url}/api/v1/nosuch/x") for _ in range(2 * RATE_BURST))
        )
        assert 429 in [r.status_code for r in anonymous]
    # The default address still has its own buckets.
    async with httpx.AsyncClient(timeout=10) as mine:
        assert (await mine.get(f"{platform.gateway.url}/api/v1/nosuch/x")).status_code == 404


async def test_cors_preflight_for_a_configured_origin(http, platform, headers):
    preflight = {
        "Origin": CORS_ORIGIN,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, if-match, content-type",
    }
    r = await http.options(platform.via_gateway("/frameworks/x"), headers=preflight)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "PATCH" in r.headers["access-control-allow-methods"]
    assert "if-match" in r.headers["access-control-allow-headers"].lower()
    evil = await http.options(
        platform.via_gateway("/frameworks/x"), headers={**preflight, "Origin": "https://evil.example.com"}
    )
    assert "access-control-allow-origin" not in evil.headers
    simple = await http.get(platform.via_gateway("/frameworks?limit=1"), headers={"Origin": CORS_ORIGIN, **headers()})
    assert simple.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "etag" in simple.headers["access-control-expose-headers"].lower()


# --------------------------------------------------------------------------- docs


async def test_one_openapi_document_for_the_platform(http, platform):
    r = await http.get(f"{platform.gateway.url}/openapi.json")
    assert r.status_code == 200
    document = r.json()
    assert "/api/v1/indicator/frameworks/{framework_id}" in document["paths"]
    assert not any(p.startswith("/api/v1/slow") or p.startswith("/api/v1/{service}") for p in document["paths"])
    assert set(document["info"]["x-govperf-unavailable-services"]) == {"slow", "down"}
    schemas = document["components"]["schemas"]
    assert "indicator_FrameworkRead" in schemas
    refs = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)
    operation_ids = [
        op["operationId"]
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(operation_ids) == len(set(operation_ids))
    ui = await http.get(f"{platform.gateway.url}/docs")
    assert ui.status_code == 200 and "/openapi.json" in ui.text


# --------------------------------------------------------------------------- edge headers (issue 6, 16-17)


async def test_connection_header_cannot_strip_authorization(http, platform, headers):
    """A client naming Authorization hop-by-hop must not turn an authenticated call anonymous."""
    h = headers()
    created = await create(http, platform, h)
    assert created.status_code == 201, created.text
    draft = platform.via_gateway(f"/frameworks/{created.json()['id']}")
    r = await http.get(draft, headers={**h, "Connection": "keep-alive, Authorization, If-Match"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == created.json()["id"]


async def test_two_authorization_headers_are_400_at_the_gateway_and_the_service(http, platform, headers):
    good, other = headers()["Authorization"], headers("admin", org_path="/")["Authorization"]
    twice = [("Authorization", good), ("Authorization", other)]
    for url in (
        platform.via_gateway("/frameworks"),
        platform.direct("/frameworks"),
        f"{platform.gateway.url}/api/v1/me",
    ):
        r = await http.get(url, headers=twice)
        body = assert_problem(r, 400)
        assert body["errors"] == [{"field": "authorization", "message": "the header is repeated"}]


async def test_a_large_upload_streams_through_and_a_small_one_is_buffered_alike(http, platform, headers):
    """Both body paths of the gateway reach the service whole (the import answers with what it read)."""
    h = headers()
    large = big_framework()
    small = codecs.to_json(FrameworkContent(code=f"E2E-TINY-{uuid.uuid4().hex[:6]}", name="Tiny", indicators=[]))
    assert len(large) > BUFFER_BYTES > len(small)
    for content, indicators in ((large, 2000), (small, 0)):
        params = {"format": "json", "org_unit_id": ORG_UNIT, "org_path": ORG_PATH}
        r = await http.post(platform.via_gateway("/frameworks/import"), params=params, content=content, headers=h)
        assert r.status_code == 201, r.text
        platform.created.append(r.json()["id"])
        assert r.headers["location"] == f"/api/v1/indicator/frameworks/{r.json()['id']}"
        listed = await http.get(platform.via_gateway(f"/frameworks/{r.json()['id']}/indicators"), headers=h)
        assert len(listed.json()["items"]) == indicators


async def test_bodiless_answers_pass_through(http, platform, headers):
    """204 and HEAD carry no body; the gateway neither waits for one nor invents one."""
    h = headers()
    created = await create(http, platform, h)
    assert created.status_code == 201, created.text
    url = platform.via_gateway(f"/frameworks/{created.json()['id']}")
    head = await http.head(url, headers=h)
    direct = await http.head(platform.direct(f"/frameworks/{created.json()['id']}"), headers=h)
    assert head.status_code == direct.status_code and head.content == direct.content == b""
    gone = await http.delete(url, headers={**h, "If-Match": created.headers["etag"]})
    assert gone.status_code == 204 and gone.content == b""
    assert (await http.get(url, headers=h)).status_code == 404


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_an_oversized_upload_is_413_at_the_gateway_never_a_500(http, platform, headers, declared):
    limit = 6 * 1024 * 1024  # GOVPERF_MAX_BODY_BYTES default
    chunk = b"x" * (256 * 1024)

    async def chunks():
        for _ in range(limit // len(chunk) + 4):
            yield chunk

    body = chunk * (limit // len(chunk) + 4) if declared else chunks()
    params = {"format": "json", "org_unit_id": ORG_UNIT, "org_path": ORG_PATH}
    try:
        r = await http.post(platform.via_gateway("/frameworks/import"), params=params, content=body, headers=headers())
    except httpx.RemoteProtocolError:
        return  # the gateway answered 413 and closed while the client was still sending: also a refusal
    assert_problem(r, 413)
    assert (await http.get(f"{platform.gateway.url}/healthz")).status_code == 200
