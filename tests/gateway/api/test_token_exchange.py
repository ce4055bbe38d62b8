"""Token exchange: an outside issuer's JWT, verified against its JWKS, becomes a govperf token."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import delete, select

from contracts.org_units import OrgUnitChanged
from services.gateway.config import ExternalIssuer, Settings
from services.gateway.identity.models import ExternalIdentity
from services.gateway.identity.service import apply_org_unit_change
from shared.auth.devkeys import generate_private_pem
from shared.auth.jwt import sign, unverified_claim
from shared.db import committing
from shared.testing.plugin import client_for
from tests.gateway.api.support import TOKEN_URL, Identity, bearer
from tests.gateway.conftest import ExternalIdp

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
PARALLEL = 5


def external_token(idp: ExternalIdp, *, pem: str | None = None, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "alice@idp",
        "iss": idp.issuer,
        "aud": idp.audience,
        "iat": now,
        "exp": now + 300,
        "groups": ["pm-office", "unmapped-group"],
        "org_id": str(uuid.uuid4()),
        "org_path": "/gd/sz",
    }
    return sign(claims | overrides, pem or idp.private_pem, algorithm="ES256", kid=idp.kid)


async def exchange(client, token: str):
    return await client.post(
        TOKEN_URL, data={"grant_type": EXCHANGE, "subject_token": token, "subject_token_type": JWT_TYPE}
    )


async def test_external_token_is_exchanged_with_mapped_roles(client, external_idp: ExternalIdp):
    r = await exchange(client, external_token(external_idp))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert "refresh_token" not in body and body["expires_in"] <= 300
    token = body["access_token"]
    # Namespaced by issuer: another issuer's "alice@idp" is another person.
    assert unverified_claim(token, "sub") == "ext:gd-idp:alice@idp" and unverified_claim(token, "typ") == "external"
    assert unverified_claim(token, "roles") == ["perf_office"]
    me = await client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["kind"] == "external" and me.json()["org_path"] == "/gd/sz"


async def test_untrusted_or_invalid_external_tokens_are_refused(client, external_idp: ExternalIdp):
    bad = [
        external_token(external_idp, pem=generate_private_pem()),  # not the issuer's key
        external_token(external_idp, iss="https://other.example"),
        external_token(external_idp, aud="someone-else"),
        external_token(external_idp, exp=int(time.time()) - 10),
        external_token(external_idp, groups=["unmapped-group"]),
        external_token(external_idp, org_path="not a path"),
    ]
    for token in bad:
        r = await exchange(client, token)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


async def test_an_issuer_is_confined_to_its_subtree(client, external_idp: ExternalIdp):
    """The issuer is configured for /gd: a token claiming the root (or another province) gets nothing."""
    for org_path in ("/", "/gz", "/gdx"):
        r = await exchange(client, external_token(external_idp, org_path=org_path))
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", (org_path, r.text)
        assert "subtree" in r.json()["error_description"]
    assert (await exchange(client, external_token(external_idp, org_path="/gd/sz/ft"))).status_code == 200


async def test_a_roles_claim_that_is_not_a_list_is_a_client_error(client, external_idp: ExternalIdp):
    for groups in ("pm-office", {"pm-office": True}, 7, ["pm-office", 3], None):
        r = await exchange(client, external_token(external_idp, groups=groups))
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", (groups, r.text)


def test_an_issuer_can_never_be_allowed_admin_or_federation_or_map_outside_its_allow_list():
    base = {"issuer": "https://x", "jwks_url": "file:///x", "audience": "a", "org_subtree": "/gd"}
    for allowed in (["admin"], ["perf_office", "federation"]):
        with pytest.raises(ValidationError):
            ExternalIssuer(**base, allowed_roles=allowed)
    with pytest.raises(ValidationError):
        ExternalIssuer(**base, allowed_roles=["department"], role_map={"boss": "perf_office"})
    with pytest.raises(ValidationError):
        ExternalIssuer(**{**base, "org_subtree": "not a path"}, allowed_roles=["department"])
    with pytest.raises(ValidationError):  # no allow-list, no issuer
        ExternalIssuer(**base)
    issuer = ExternalIssuer(**base, allowed_roles=["department"])
    with pytest.raises(ValidationError):  # two issuers sharing a namespace would share people
        Settings(oidc_issuers=[issuer, issuer])


async def test_an_admin_revokes_an_external_person_and_its_tokens_stop(client, ident: Identity, external_idp):
    _, admin = await ident.headers("admin", org_path="/")
    person = {"sub": f"bob-{uuid.uuid4().hex[:6]}"}
    token = (await exchange(client, external_token(external_idp, **person))).json()["access_token"]
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    listed = (await client.get("/api/v1/admin/external-identities", params={"limit": 500}, headers=admin)).json()
    row = next(i for i in listed["items"] if i["external_subject"] == person["sub"])
    assert row["issuer"] == "gd-idp" and row["roles"] == ["perf_office"] and row["revoked_at"] is None

    office = bearer(token)  # an external perf office may not revoke anyone
    assert (
        await client.post(f"/api/v1/admin/external-identities/{row['id']}/revoke", headers=office)
    ).status_code == 403
    r = await client.post(f"/api/v1/admin/external-identities/{row['id']}/revoke", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401
    again = await exchange(client, external_token(external_idp, **person))
    assert again.status_code == 400 and "revoked" in again.json()["error_description"]
    audit = await client.get("/api/v1/admin/audit", params={"action": "external_identity.revoked"}, headers=admin)
    assert [e["target_id"] for e in audit.json()["items"]] == [row["subject"]]


async def test_changed_claims_at_the_issuer_end_older_exchanged_tokens(client, external_idp: ExternalIdp):
    person = {"sub": f"carol-{uuid.uuid4().hex[:6]}"}
    as_office = (await exchange(client, external_token(external_idp, **person))).json()["access_token"]
    demoted = await exchange(client, external_token(external_idp, groups=["auditors"], **person))
    assert demoted.status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(as_office))).status_code == 401
    me = await client.get("/api/v1/me", headers=bearer(demoted.json()["access_token"]))
    assert me.status_code == 200 and me.json()["roles"] == ["audit"]


async def test_an_external_org_unit_must_match_the_org_tree(client, db, external_idp: ExternalIdp):
    unit = uuid.uuid4()
    await apply_org_unit_change(
        db,
        change=OrgUnitChanged(id=unit, code="sz", name="Shenzhen", kind="city", org_path="/gd/sz"),
        changed_at=dt.datetime.now(dt.UTC),
    )
    wrong = await exchange(client, external_token(external_idp, org_id=str(uuid.uuid4()), org_path="/gd/sz"))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    right = await exchange(client, external_token(external_idp, org_id=str(unit), org_path="/gd/sz"))
    assert right.status_code == 200, right.text


async def test_before_the_org_tree_arrives_an_issuer_keeps_its_own_unit_ids(client, ident: Identity, external_idp):
    await ident.user("department", org_path="/gd/sz")  # a local account names another id for /gd/sz
    r = await exchange(client, external_token(external_idp, org_id=str(uuid.uuid4()), org_path="/gd/sz"))
    assert r.status_code == 200, r.text


async def test_parallel_first_exchanges_of_one_person_make_one_identity(gateway_app, external_idp: ExternalIdp):
    """Real commits, one session per request: the upsert, not a read-then-insert, decides. (As many at
    once as the test gateway's pool holds: more would time out waiting for a connection.)"""
    sub, unit = f"dora-{uuid.uuid4().hex[:6]}", str(uuid.uuid4())
    token = external_token(external_idp, sub=sub, org_id=unit)
    async with client_for(gateway_app) as fresh:
        answers = await asyncio.gather(*(exchange(fresh, token) for _ in range(PARALLEL)))
    try:
        assert [a.status_code for a in answers] == [200] * PARALLEL, [a.text for a in answers]
        async with gateway_app.state.sessionmaker() as session:
            rows = (
                await session.scalars(select(ExternalIdentity).where(ExternalIdentity.external_subject == sub))
            ).all()
        assert len(rows) == 1 and rows[0].security_stamp == 1
    finally:
        async with gateway_app.state.sessionmaker() as session, committing(session):
            await session.execute(delete(ExternalIdentity).where(ExternalIdentity.external_subject == sub))
