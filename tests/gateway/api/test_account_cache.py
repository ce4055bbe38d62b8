"""The gateway trusts its view of an account for principal_cache_seconds: a change made elsewhere
(another gateway replica, or straight in the database) stops the account's tokens within that
time, one made through this process's admin API at once; /api/v1/me shows the account as cached."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from services.gateway.identity.models import User
from services.gateway.principal import SecurityStamps
from tests.gateway.api.support import Identity, bearer

CACHE_SECONDS = 1.0


@pytest.fixture
def cached(gateway_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_app.state, "security_stamps", SecurityStamps(CACHE_SECONDS), raising=False)


async def refused_within(ident: Identity, headers: dict[str, str], seconds: float) -> float:
    """Seconds until /me refuses the token; fails the test past ``seconds``."""
    started = time.monotonic()
    while (await ident.me(headers)).status_code == 200:
        assert time.monotonic() - started <= seconds, "still accepted after the documented cache time"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.parametrize(
    "change",
    [
        {"disabled": True},  # disabled by an admin on another replica
        {"security_stamp": User.security_stamp + 1},  # roles, scope or password changed elsewhere
    ],
    ids=["disabled", "stamp-changed"],
)
async def test_a_change_made_elsewhere_stops_tokens_within_the_cache_time(ident: Identity, cached: None, change):
    user = await ident.user()
    headers = bearer((await ident.tokens(user))["access_token"])
    me = await ident.me(headers)
    assert me.status_code == 200 and me.json()["user"]["id"] == str(user.id)
    await ident.db.execute(update(User).where(User.id == user.id).values(**change))
    await refused_within(ident, headers, CACHE_SECONDS + 0.5)
    assert (await ident.me(headers)).status_code == 401


async def test_a_change_through_this_gateway_stops_tokens_at_once(ident: Identity, client, cached: None):
    _, admin = await ident.headers("admin", org_path="/")
    user = await ident.user()
    headers = bearer((await ident.tokens(user))["access_token"])
    assert (await ident.me(headers)).status_code == 200  # now cached
    current = await client.get(f"/api/v1/admin/users/{user.id}", headers=admin)
    r = await client.patch(
        f"/api/v1/admin/users/{user.id}",
        json={"disabled": True},
        headers={**admin, "If-Match": current.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    assert (await ident.me(headers)).status_code == 401


async def test_me_shows_the_account_behind_the_token(ident: Identity, cached: None):
    user = await ident.user("perf_office", org_path="/gd/sz")
    headers = bearer((await ident.tokens(user))["access_token"])
    body = (await ident.me(headers)).json()
    assert body["kind"] == "user" and body["roles"] == ["perf_office"] and body["org_path"] == "/gd/sz"
    assert body["user"]["username"] == user.username and body["user"]["disabled"] is False
    assert body["client"] is None
