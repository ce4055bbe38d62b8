"""What an access token says, as plain data (no I/O)."""

# ruff: noqa: S105 - grant and token type names from RFC 6749/8693, not secrets

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

PASSWORD = "password"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
GRANT_TYPES = (PASSWORD, CLIENT_CREDENTIALS, REFRESH_TOKEN, TOKEN_EXCHANGE)
ACCESS_TOKEN_CLAIMS = ("sub", "roles", "org_id", "org_path", "iss", "aud", "iat", "nbf", "exp", "jti", "stamp", "typ")


@dataclass(frozen=True)
class Grant:
    """Who an access token is for. ``kind`` becomes the ``typ`` claim: user, client or external."""

    subject: str
    kind: str
    roles: tuple[str, ...]
    org_unit_id: uuid.UUID
    org_path: str
    stamp: int


def registered_claims(*, issuer: str, audience: str, now: int, lifetime: int) -> dict[str, Any]:
    """The registered claims (RFC 7519, 4.1) of every token the gateway signs."""
    return {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }


def access_token_claims(grant: Grant, *, issuer: str, audience: str, now: int, lifetime: int) -> dict[str, Any]:
    return {
        "sub": grant.subject,
        "roles": sorted(grant.roles),
        "org_id": str(grant.org_unit_id),
        "org_path": grant.org_path,
        **registered_claims(issuer=issuer, audience=audience, now=now, lifetime=lifetime),
        "stamp": grant.stamp,
        "typ": grant.kind,
    }


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
