"""Gateway settings (identity schema, token issuing, routing, limits)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.auth.principal import OrgPath, Role
from shared.config import BaseServiceSettings
from shared.stack import SERVICES

# An outside issuer can never make a platform administrator or another platform's service account.
NEVER_EXTERNAL_ROLES = frozenset({Role.admin, Role.federation})


class ExternalIssuer(BaseModel):
    """An outside OIDC issuer whose tokens the gateway exchanges for its own, confined to one org
    subtree and an allow-list of roles."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(min_length=1, max_length=500)
    # Namespaces the people of this issuer: their govperf subject is ``ext:<name>:<sub>``.
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    jwks_url: str
    audience: str
    algorithm: str = "RS256"
    # Every token's org path must lie in this subtree, e.g. a province's IdP: "/gd".
    org_subtree: OrgPath
    # The only govperf roles this issuer's people can receive; never admin or federation.
    allowed_roles: list[Role] = Field(min_length=1)
    roles_claim: str = "roles"
    role_map: dict[str, Role] = {}  # external role -> govperf role; unmapped roles are dropped
    org_unit_claim: str = "org_id"
    org_path_claim: str = "org_path"

    @model_validator(mode="after")
    def _confined(self) -> ExternalIssuer:
        never = NEVER_EXTERNAL_ROLES & set(self.allowed_roles)
        if never:
            raise ValueError(f"allowed_roles must not contain {', '.join(sorted(never))}")
        outside = set(self.role_map.values()) - set(self.allowed_roles)
        if outside:
            raise ValueError(f"role_map names roles outside allowed_roles: {', '.join(sorted(outside))}")
        return self

    @property
    def subject_namespace(self) -> str:
        return self.name or hashlib.sha256(self.issuer.encode()).hexdigest()[:12]


def default_upstreams() -> dict[str, str]:
    return {s.name: f"http://127.0.0.1:{s.port}" for s in SERVICES if s.name != "gateway"}


class Settings(BaseServiceSettings):
    service_name: str = "gateway"
    schema_name: str = "identity"

    public_url: str = "http://127.0.0.1:8000"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=300)
    # However often it is rotated, a login ends this long after the password was given.
    refresh_family_max_seconds: int = Field(default=30 * 24 * 3600, ge=300)
    client_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    key_rotation_days: int = Field(default=30, ge=1)
    # A new key is in the JWKS this long before it signs, so services' caches know it in time.
    key_publish_ahead_seconds: int = Field(default=60, ge=0)
    key_passphrase: SecretStr | None = None  # encrypts private keys at rest; required in production
    # First admin; when unset, generated into <dev key dir>/first-admin-password and to be changed at once.
    admin_password: SecretStr | None = None

    upstreams: dict[str, str] = Field(default_factory=default_upstreams)
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
    # Per service, where one needs longer (a large export) or shorter than the default.
    upstream_timeouts: dict[str, Annotated[float, Field(gt=0)]] = {}
    upstream_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)
    # A response submission's whole body must arrive within this (else 408): a client trickling it
    # in would hold a connection and a task for as long as it liked.
    intake_body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # A request's head (request line and headers) must arrive within this from connecting or from
    # its first byte (else 408, connection closed): see server.py.
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Intake batches to survey_svc at a time (intake.py): fewer make larger batches, more a shorter
    # wait for the next one to leave. survey_svc writes as many side by side (its intake_write_connections).
    intake_batches_in_flight: int = Field(default=4, ge=1, le=32)

    cors_origins: list[str] = []
    rate_limit_per_minute: int = Field(default=1200, ge=1)
    rate_limit_burst: int = Field(default=200, ge=1)
    token_rate_limit_per_minute: int = Field(default=30, ge=1)
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_seconds: int = Field(default=900, ge=1)

    graphql_max_depth: int = Field(default=8, ge=2)
    graphql_max_aliases: int = Field(default=15, ge=1)
    graphql_max_tokens: int = Field(default=2000, ge=100)

    oidc_issuers: list[ExternalIssuer] = []

    @model_validator(mode="after")
    def _issuers_distinct(self) -> Settings:
        namespaces = [issuer.subject_namespace for issuer in self.oidc_issuers]
        if len(set(namespaces)) != len(namespaces):
            raise ValueError("oidc_issuers must have distinct names (they namespace external subjects)")
        return self

    # argon2id cost for passwords and client secrets (RFC 9106's second recommendation by default;
    # tests lower it to stay fast).
    password_hash_time_cost: int = Field(default=3, ge=1, le=10)
    password_hash_memory_kib: int = Field(default=64 * 1024, ge=8, le=1024 * 1024)
    # How long the gateway trusts its in-process view of a user's or client's security state.
    principal_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    key_check_interval_seconds: int = Field(default=3600, ge=10)


@lru_cache
def get_settings() -> Settings:
    return Settings()
