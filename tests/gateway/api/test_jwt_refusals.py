"""Forged, expired and misdirected tokens at a gateway route: each a 401 with one generic body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from services.gateway.keys.service import key_ring
from shared.auth.devkeys import generate_private_pem
from shared.auth.jwt import public_jwk, sign
from tests.gateway.api.support import Identity, bearer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": str(uuid.uuid4()),
        "roles": ["admin"],
        "org_id": str(uuid.uuid4()),
        "org_path": "/",
        "iss": "govperf",
        "aud": "govperf",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "stamp": 1,
        "typ": "user",
    } | overrides


def refused_body(response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    return {k: v for k, v in response.json().items() if k != "request_id"}


@pytest.fixture
async def forged(gateway_app: FastAPI, ident: Identity) -> dict[str, str]:
    """One bad token per attack, all naming a real user and (where it matters) the live kid."""
    user = await ident.user("department")
    kid, private_pem = await key_ring(gateway_app).signer()
    real = claims(sub=str(user.id), roles=["department"], org_path="/gd/sz")
    jwk = public_jwk(private_pem, "ES256")
    public_pem_like = json.dumps(jwk)  # what an attacker has: the published key
    hs_header = segment({"alg": "HS256", "typ": "JWT", "kid": kid})
    hs_body = segment(real)
    hs_sig = b64(hmac.new(public_pem_like.encode(), f"{hs_header}.{hs_body}".encode(), hashlib.sha256).digest())
    valid = sign(real, private_pem, algorithm="ES256", kid=kid)
    head, _, rest = valid.partition(".")
    _, _, signature = rest.partition(".")
    now = int(time.time())
    return {
        "alg_none": f"{segment({'alg': 'none', 'kid': kid})}.{segment(real)}.",
        "hs256_with_public_key": f"{hs_header}.{hs_body}.{hs_sig}",
        "wrong_kid": sign(real, generate_private_pem(), algorithm="ES256", kid="not-a-published-kid"),
        "foreign_key_real_kid": sign(real, generate_private_pem(), algorithm="ES256", kid=kid),
        "expired": sign(
            claims(**{**real, "iat": now - 900, "nbf": now - 900, "exp": now - 600}),
            private_pem,
            algorithm="ES256",
            kid=kid,
        ),
        "not_yet_valid": sign(claims(**{**real, "nbf": now + 600}), private_pem, algorithm="ES256", kid=kid),
        "wrong_aud": sign({**real, "aud": "another-platform"}, private_pem, algorithm="ES256", kid=kid),
        "wrong_iss": sign({**real, "iss": "https://evil.example"}, private_pem, algorithm="ES256", kid=kid),
        "tampered_payload": f"{head}.{segment({**real, 'roles': ['admin'], 'org_path': '/'})}.{signature}",
        "no_stamp": sign({k: v for k, v in real.items() if k != "stamp"}, private_pem, algorithm="ES256", kid=kid),
        "garbage": "not.a.jwt",
        "valid": valid,
    }


async def test_each_forged_token_gets_the_same_generic_401(ident: Identity, forged: dict[str, str]):
    assert (await ident.me(bearer(forged.pop("valid")))).status_code == 200
    bodies = {name: refused_body(await ident.me(bearer(token))) for name, token in forged.items()}
    assert len({json.dumps(b, sort_keys=True) for b in bodies.values()}) == 1, bodies
    assert next(iter(bodies.values()))["detail"] == "Invalid or expired token."


async def test_missing_or_non_bearer_authorization_is_401(client):
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/api/v1/me", headers={"Authorization": "Basic YTpi"})).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer("x" * 9000))).status_code == 401


async def test_removed_role_makes_the_old_token_401(ident: Identity, client):
    _, admin = await ident.headers("admin", org_path="/")
    user = await ident.user("perf_office", "audit")
    old = bearer((await ident.tokens(user))["access_token"])
    r = await client.patch(
        f"/api/v1/admin/users/{user.id}", json={"roles": ["audit"]}, headers={**admin, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert (await ident.me(old)).status_code == 401
    fresh = await ident.me(bearer((await ident.tokens(user))["access_token"]))
    assert fresh.status_code == 200 and fresh.json()["roles"] == ["audit"]


async def test_dev_key_tokens_skip_the_account_check(client, auth):
    """Outside production the dev key (``govperf token``) is trusted and names no account."""
    r = await client.get("/api/v1/me", headers=auth("perf_office", org_path="/gd", subject="dev-office"))
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "development" and r.json()["user"] is None
