"""JWKS, discovery, and key rotation with overlap."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from sqlalchemy import update

from services.gateway.keys.models import SigningKey
from services.gateway.keys.service import key_ring
from shared.auth.jwt import unverified_header_value
from tests.gateway.api.support import Identity, bearer


async def test_jwks_publishes_the_signing_key_and_the_dev_key(client, ident: Identity, dev_keys):
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200 and "max-age" in r.headers["cache-control"]
    keys = r.json()["keys"]
    assert {k["kty"] for k in keys} == {"EC"} and all(k["alg"] == "ES256" and k["use"] == "sig" for k in keys)
    assert all("d" not in k for k in keys)  # never a private part
    kids = {k["kid"] for k in keys}
    assert dev_keys.kid in kids
    token = (await ident.tokens(await ident.user()))["access_token"]
    assert unverified_header_value(token, "kid") in kids - {dev_keys.kid}


async def test_openid_configuration_names_endpoints_grants_and_algorithm(client):
    r = await client.get("/.well-known/openid-configuration")
    assert r.status_code == 200
    doc = r.json()
    assert doc["issuer"] == "govperf"
    assert doc["token_endpoint"].endswith("/oauth/token") and doc["jwks_uri"].endswith("/.well-known/jwks.json")
    assert set(doc["grant_types_supported"]) == {
        "password",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]


async def test_rotation_prepublishes_the_new_key_and_keeps_old_tokens_valid(
    gateway_app: FastAPI, ident: Identity, client
):
    _, admin = await ident.headers("admin", org_path="/")
    user = await ident.user()
    old_token = (await ident.tokens(user))["access_token"]
    old_kid = unverified_header_value(old_token, "kid")

    r = await client.post("/api/v1/admin/keys/rotate", headers=admin)
    assert r.status_code == 201, r.text
    new_kid = r.json()["kid"]
    activates_at = dt.datetime.fromisoformat(r.json()["activates_at"])
    assert activates_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=50)  # key_publish_ahead_seconds=60
    published = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= published
    # Not yet signing: services may not have fetched it.
    assert unverified_header_value((await ident.tokens(user))["access_token"], "kid") == old_kid

    # Time passes (the activation is moved into the past rather than waited for).
    now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await ident.db.execute(update(SigningKey).where(SigningKey.kid == new_kid).values(activates_at=now))
    await ident.db.execute(update(SigningKey).where(SigningKey.kid == old_kid).values(retires_at=now))
    key_ring(gateway_app).invalidate()
    new_token = (await ident.tokens(user))["access_token"]
    assert unverified_header_value(new_token, "kid") == new_kid
    assert (await ident.me(bearer(new_token))).status_code == 200
    assert (await ident.me(bearer(old_token))).status_code == 200  # old key still published
    keys = (await client.get("/api/v1/admin/keys", headers=admin)).json()["items"]
    old = next(k for k in keys if k["kid"] == old_kid)
    assert dt.datetime.fromisoformat(old["publish_until"]) >= now + dt.timedelta(seconds=900)
    audit = (await client.get("/api/v1/admin/audit", params={"action": "key.rotated"}, headers=admin)).json()
    assert [e["target_id"] for e in audit["items"]] == [new_kid]


async def test_only_admin_rotates_keys(ident: Identity, client):
    _, office = await ident.headers("perf_office", org_path="/")
    assert (await client.post("/api/v1/admin/keys/rotate", headers=office)).status_code == 403
