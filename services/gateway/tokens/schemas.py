"""Token endpoint responses and the discovery document."""

from __future__ import annotations

from pydantic import BaseModel


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - RFC 6750 token type
    expires_in: int
    refresh_token: str | None = None
    issued_token_type: str | None = None  # token exchange only (RFC 8693)


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str | None = None


class Jwks(BaseModel):
    keys: list[dict[str, object]]


class OpenIdConfiguration(BaseModel):
    issuer: str
    token_endpoint: str
    revocation_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    response_types_supported: list[str]
    subject_types_supported: list[str]
    claims_supported: list[str]
