"""Fixtures of the gateway's identity tests: the gateway in-process on the migrated identity schema,
each test inside a rolled-back transaction (also used for the gateway's own key and stamp lookups)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.app import create_app
from services.gateway.config import ExternalIssuer, Settings
from services.gateway.identity.models import OrgUnit
from services.gateway.keys.service import key_ring
from shared.auth.devkeys import DevKeys, generate_private_pem
from shared.auth.jwt import public_jwk
from shared.auth.principal import Role
from shared.migrations import upgrade
from shared.stack import SERVICES, ServiceSpec
from shared.testing.plugin import Infra, client_for, rolled_back, started

GATEWAY_SPEC = ServiceSpec("gateway", "services.gateway.app", 8000, "identity")
TEST_ADMIN_PASSWORD = "test-admin-password-1"


def identity_settings(infra: Infra, dev_keys: DevKeys, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        env="test",
        database_url=infra.database_url,
        nats_url=infra.nats_url,
        jwks_file=dev_keys.jwks_path,
        db_pool_size=3,
        run_relay=False,
        # Tests apply org-unit events themselves; a background consumer would commit other tests' events.
        run_consumers=False,
        admin_password=TEST_ADMIN_PASSWORD,
        # Cheap argon2 and no stamp cache: the suite stays fast and sees every change at once.
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        principal_cache_seconds=0,
        rate_limit_per_minute=1_000_000,
        rate_limit_burst=1_000_000,
        token_rate_limit_per_minute=1_000_000,
        max_failed_logins=3,
        lockout_seconds=600,
    )
    return Settings(**(values | overrides))


@dataclass(frozen=True)
class ExternalIdp:
    """An outside OIDC issuer for the token-exchange tests; its JWKS is a file (``file://``)."""

    issuer: str
    audience: str
    private_pem: str
    kid: str
    jwks_path: Path


@pytest.fixture(scope="session")
def external_idp(infra: Infra) -> ExternalIdp:
    pem = generate_private_pem()
    jwk = public_jwk(pem, "ES256")
    path = infra.data_dir / "idp-jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return ExternalIdp(
        issuer="https://idp.example.gov", audience="govperf-exchange", private_pem=pem, kid=jwk["kid"], jwks_path=path
    )


@pytest.fixture(scope="session")
async def gateway_app(migrated: Infra, dev_keys: DevKeys, external_idp: ExternalIdp) -> AsyncIterator[FastAPI]:
    if GATEWAY_SPEC.name not in {s.name for s in SERVICES}:
        upgrade(GATEWAY_SPEC, migrated.database_url)
    issuer = ExternalIssuer(
        issuer=external_idp.issuer,
        jwks_url=f"file://{external_idp.jwks_path}",
        audience=external_idp.audience,
        algorithm="ES256",
        name="gd-idp",
        org_subtree="/gd",
        allowed_roles=[Role.perf_office, Role.audit],
        roles_claim="groups",
        role_map={"pm-office": Role.perf_office, "auditors": Role.audit},
    )
    async for running in started(create_app(identity_settings(migrated, dev_keys, oidc_issuers=[issuer]))):
        yield running


@pytest.fixture
async def db(gateway_app: FastAPI) -> AsyncIterator[AsyncSession]:
    async for session in rolled_back(gateway_app):

        @contextlib.asynccontextmanager
        async def same_session(session: AsyncSession = session) -> AsyncIterator[AsyncSession]:
            yield session

        # Each test starts with no copy of the org tree (a running platform's consumer may have
        # committed one); tests that need org units add their own.
        await session.execute(delete(OrgUnit))
        # Key and security-stamp lookups run outside the request's session; here they must see the
        # test's uncommitted rows.
        gateway_app.state.read_session = same_session
        try:
            yield session
        finally:
            gateway_app.state.read_session = None
            key_ring(gateway_app).invalidate()


@pytest.fixture
async def client(gateway_app: FastAPI, db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(gateway_app) as http:
        yield http
