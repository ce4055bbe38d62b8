"""Token exchange: an outside issuer's JWT, verified against its JWKS, becomes a govperf token."""

from __future__ import annotations

import time
import uuid
from typing import Any

from shared.auth.devkeys import generate_private_pem
from shared.auth.jwt import sign, unverified_claim
from tests.gateway.api.support import TOKEN_URL, bearer
from tests.gateway.conftest import ExternalIdp

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


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
    assert unverified_claim(token, "sub") == "ext:alice@idp" and unverified_claim(token, "typ") == "external"
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
