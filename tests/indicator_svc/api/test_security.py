"""Authentication (every bad token is the same 401), roles and org scope."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from jose import jwt

from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework import codecs
from shared.auth.devkeys import generate_private_pem
from tests.indicator_svc.api.support import BASE, ORG_UNIT, SZ, assert_problem

GENERIC_DETAILS = {"Authentication required", "Invalid or expired token."}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)])


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {
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
    return {k: v for k, v in (base | overrides).items() if v is not None}


def bad_tokens(dev_keys, make_token) -> dict[str, str]:
    pem, kid = dev_keys.private_key_pem, dev_keys.kid

    def signed(body: dict, key: str = pem, key_id: str = kid) -> str:
        return jwt.encode(body, key, algorithm="ES256", headers={"kid": key_id})

    public_pem = (
        serialization.load_pem_private_key(pem.encode(), None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    hs_header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    hs_input = f"{b64(json.dumps(hs_header).encode())}.{b64(json.dumps(claims()).encode())}"
    hs_signature = hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()

    valid = make_token("perf_office", org_path=SZ)
    head, _, signature = valid.split(".")
    tampered = f"{head}.{b64(json.dumps(claims()).encode())}.{signature}"
    other_key = generate_private_pem()
    return {
        "garbage": "garbage",
        "not base64": "a.b.c",
        "two parts": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0",
        "header not an object": unsigned([], claims()),  # type: ignore[arg-type]
        "expired": signed(claims(exp=int(time.time()) - 60, iat=int(time.time()) - 700, nbf=None)),
        "not yet valid": signed(claims(nbf=int(time.time()) + 600)),
        "wrong audience": signed(claims(aud="someone-else")),
        "wrong issuer": signed(claims(iss="https://evil.example")),
        "no exp": signed(claims(exp=None)),
        "no aud": signed(claims(aud=None)),
        "no iss": signed(claims(iss=None)),
        "no sub": signed(claims(sub=None)),
        "no roles": signed(claims(roles=None)),
        "roles not strings": signed(claims(roles=[["admin"], {"a": 1}])),
        "roles not a list": signed(claims(roles="admin")),
        "no org": signed(claims(org_id=None, org_path=None)),
        "bad org path": signed(claims(org_path="../etc")),
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": kid}, claims()),
        "alg none without kid": unsigned({"alg": "none", "typ": "JWT"}, claims()),
        "HS256 with the public key": f"{hs_input}.{b64(hs_signature)}",
        "unknown kid": signed(claims(), key=other_key, key_id="no-such-kid"),
        "known kid, other key": signed(claims(), key=other_key),
        "no kid": jwt.encode(claims(), pem, algorithm="ES256"),
        "tampered payload": tampered,
        "signature stripped": f"{head}.{valid.split('.')[1]}.",
        "too long": "a" * 9000,
    }


async def test_the_forgeries_differ_from_a_good_token_in_one_thing_only(client, dev_keys):
    token = jwt.encode(claims(), dev_keys.private_key_pem, algorithm="ES256", headers={"kid": dev_keys.kid})
    r = await client.get(BASE, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


async def test_every_bad_token_is_the_same_401(client, dev_keys, make_token):
    details = set()
    for reason, token in bad_tokens(dev_keys, make_token).items():
        for method, url in (("GET", BASE), ("POST", f"{BASE}/import")):
            r = await client.request(method, url, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (reason, r.text)
            body = assert_problem(r, 401)
            assert r.headers["www-authenticate"] == "Bearer", reason
            details.add(body["detail"])
    assert details <= GENERIC_DETAILS


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"])
async def test_missing_or_non_bearer_credentials_are_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    r = await client.get(BASE, headers=headers)
    body = assert_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer" and body["detail"] in GENERIC_DETAILS


async def test_a_good_token_is_accepted(client, make_token):
    token = make_token("department", org_path=SZ)
    r = await client.get(BASE, headers={"Authorization": f"bearer {token}"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("role", ["department", "audit", "expert", "finance", "verifier"])
async def test_only_office_and_admin_may_write(client, api, role):
    headers = api.auth(role, org_path=SZ)
    body = {"code": "NOPE", "name": "Not allowed", "org_unit_id": ORG_UNIT, "org_path": SZ}
    assert_problem(await client.post(BASE, json=body, headers=headers), 403)
    draft = await api.create_small()
    fid = draft["id"]
    assert_problem(await api.publish(fid, headers=headers), 403)
    assert_problem(await client.patch(f"{BASE}/{fid}", json={"name": "x"}, headers=headers), 403)
    assert_problem(await api.add(fid, {"code": "X", "name": "x", "weight": 1}, headers=headers), 403)
    assert_problem(await client.delete(f"{BASE}/{fid}", headers=headers), 403)
    assert_problem(await api.import_(codecs.to_json(load_city_framework()), headers=headers), 403)
    # They may read what is in their scope.
    assert (await api.get(fid, headers=headers))["status"] == "draft"
    published = await api.published(fid)
    assert_problem(await client.post(f"{BASE}/{fid}/retire", headers=headers), 403)
    assert_problem(await client.post(f"{BASE}/{fid}/versions", headers=headers), 403)
    assert (await api.get(fid))["lock_version"] == published["lock_version"]


async def test_other_org_cannot_see_or_touch_a_draft(client, api):
    gz = api.auth("perf_office", org_path="/gd/gz", subject="office-gz")
    draft = await api.create_small()
    fid, url = draft["id"], f"{BASE}/{draft['id']}"

    for response in [
        await client.get(url, headers=gz),
        await client.get(f"{url}/indicators", headers=gz),
        await client.get(f"{url}/validation", headers=gz),
        await client.get(f"{url}/balance", headers=gz),
        await client.get(f"{url}/export", headers=gz),
        await client.patch(url, json={"name": "hijacked"}, headers=gz),
        await client.delete(url, headers=gz),
        await api.add(fid, {"code": "X", "name": "x", "weight": 1}, headers=gz),
        await client.put(f"{url}/indicators/S1", json={"code": "S1", "name": "x", "weight": 1}, headers=gz),
        await client.delete(f"{url}/indicators/S1", headers=gz),
        await api.publish(fid, headers=gz),
    ]:
        assert_problem(response, 404)  # a draft of another org is not even acknowledged

    assert fid not in await api.list_ids(headers=gz)
    r = await client.get(BASE, params={"ids": fid}, headers=gz)
    assert r.json()["items"] == []
    r = await client.get("/api/v1/indicators", params={"framework_ids": fid}, headers=gz)
    assert r.status_code == 200 and r.json()["items"] == []
    assert (await api.get(fid))["name"] == draft["name"] and (await api.get(fid))["status"] == "draft"
    # Nor can it create in /gd/sz.
    body = {"code": "X", "name": "x", "org_unit_id": ORG_UNIT, "org_path": SZ}
    assert_problem(await client.post(BASE, json=body, headers=gz), 403)
    assert_problem(await api.import_(codecs.to_json(load_city_framework()), headers=gz), 403)

    published = await api.published(fid)
    assert (await api.get(fid, headers=gz))["content_hash"] == published["content_hash"]
    assert fid in await api.list_ids(headers=gz)
    assert len((await client.get(f"{url}/indicators", headers=gz)).json()["items"]) == 3
    # Reading is not writing.
    assert_problem(await client.post(f"{url}/retire", headers=gz), 403)
    assert_problem(await client.post(f"{url}/versions", headers=gz), 403)


async def test_scope_is_a_subtree_not_a_prefix(client, api):
    draft = await api.create()
    sibling = api.auth("perf_office", org_path="/gd/s")  # "/gd/s" is a string prefix of "/gd/sz"
    assert_problem(await client.get(f"{BASE}/{draft['id']}", headers=sibling), 404)
    assert draft["id"] not in await api.list_ids(headers=sibling)
    parent = api.auth("department", org_path="/gd")
    assert (await api.get(draft["id"], headers=parent))["id"] == draft["id"]
    child = api.auth("perf_office", org_path="/gd/sz/futian")
    assert_problem(await client.get(f"{BASE}/{draft['id']}", headers=child), 404)


async def test_underscore_in_a_scope_is_not_a_wildcard(client, api):
    admin = api.auth("admin", org_path="/")
    hidden = await api.create(org_path="/gd/axb/c", headers=admin)
    mine = await api.create(org_path="/gd/a_b/c", headers=admin)
    wild = api.auth("perf_office", org_path="/gd/a_b")
    assert await api.list_ids(headers=wild) == [mine["id"]]
    assert await api.list_ids(headers=admin, org_path="/gd/a_b") == [mine["id"]]
    assert_problem(await client.get(f"{BASE}/{hidden['id']}", headers=wild), 404)
    r = await client.get("/api/v1/indicators", params={"framework_ids": hidden["id"]}, headers=wild)
    assert r.status_code == 200 and r.json()["items"] == []


async def test_admin_of_the_root_sees_and_manages_everything(client, api):
    admin = api.auth("admin", org_path="/")
    sz = await api.create_small()
    gz = await api.create(org_path="/gd/gz", headers=api.auth("perf_office", org_path="/gd/gz"))
    hn = await api.create(org_path="/hn/cs", headers=admin)
    listed = await api.list_ids(headers=admin)
    assert {sz["id"], gz["id"], hn["id"]} <= set(listed)
    assert await api.list_ids(headers=api.office) == [sz["id"]]
    assert (await api.get(gz["id"], headers=admin))["org_path"] == "/gd/gz"
    assert (await api.publish(sz["id"], headers=admin)).json()["published_by"] == "user-admin"
    assert (
        await client.delete(f"{BASE}/{gz['id']}", headers=admin | await api.if_match(gz["id"], admin))
    ).status_code == 204


async def test_unknown_roles_are_ignored_not_trusted(client, api, make_token):
    token = make_token("superuser", "root", org_path=SZ)
    headers = {"Authorization": f"Bearer {token}"}
    body = {"code": "X", "name": "x", "org_unit_id": ORG_UNIT, "org_path": SZ}
    assert_problem(await client.post(BASE, json=body, headers=headers), 403)


async def test_unknown_kid_does_not_leak_and_key_rotation_is_not_forced(client, dev_keys):
    # Many unknown kids in a row stay 401s (the key set refresh is rate limited, never a 500).
    other = generate_private_pem()
    for _ in range(5):
        token = jwt.encode(claims(), other, algorithm="ES256", headers={"kid": uuid.uuid4().hex})
        r = await client.get(BASE, headers={"Authorization": f"Bearer {token}"})
        assert_problem(r, 401)
