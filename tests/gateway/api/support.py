"""Helpers of the gateway identity API tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.identity import service as identity
from services.gateway.identity.logic import ROOT_ORG_UNIT_ID
from services.gateway.identity.models import User
from services.gateway.identity.passwords import Passwords
from services.gateway.identity.schemas import UserCreate

PASSWORD = "correct horse battery"
TOKEN_URL = "/oauth/token"
PROBLEM_JSON = "application/problem+json"
ORG_UNIT = "00000000-0000-7000-8000-000000000002"


def unit_of(org_path: str) -> uuid.UUID:
    """One org unit id per org path (accounts' unit and path must agree); the root is the root unit."""
    return ROOT_ORG_UNIT_ID if org_path == "/" else uuid.uuid5(uuid.NAMESPACE_URL, f"govperf-test:{org_path}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Identity:
    """Users made straight through the service (in the test's transaction) and the calls they make."""

    def __init__(self, client: httpx.AsyncClient, db: AsyncSession, passwords: Passwords) -> None:
        self.client, self.db, self.passwords = client, db, passwords

    async def user(
        self, *roles: str, org_path: str = "/gd/sz", password: str = PASSWORD, username: str | None = None
    ) -> User:
        data = UserCreate(
            username=username or f"u{uuid.uuid4().hex[:10]}",
            display_name="Test User",
            password=password,
            roles=list(roles) or ["department"],
            org_unit_id=unit_of(org_path),
            org_path=org_path,
        )
        return await identity.create_user(self.db, principal=None, data=data, passwords=self.passwords)

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        return await self.client.post(
            TOKEN_URL, data={"grant_type": "password", "username": username, "password": password}
        )

    async def tokens(self, user: User, password: str = PASSWORD) -> dict[str, Any]:
        r = await self.login(user.username, password)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def headers(self, *roles: str, org_path: str = "/gd/sz") -> tuple[User, dict[str, str]]:
        """A new user with ``roles`` and the bearer headers of its fresh access token."""
        user = await self.user(*roles, org_path=org_path)
        return user, bearer((await self.tokens(user))["access_token"])

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.client.post(TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def me(self, headers: dict[str, str]) -> httpx.Response:
        return await self.client.get("/api/v1/me", headers=headers)
