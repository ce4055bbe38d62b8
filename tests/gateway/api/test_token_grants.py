"""The OAuth2 token endpoint: password, refresh (rotation, reuse, revocation), client credentials."""

from __future__ import annotations

import base64
import datetime as dt

from sqlalchemy import select, update

from services.gateway.identity.models import LoginThrottle
from services.gateway.tokens.models import RefreshToken
from shared.auth.jwt import unverified_claim
from tests.gateway.api.support import PASSWORD, TOKEN_URL, Identity, bearer

GENERIC_LOGIN_FAILURE = {
    "error": "invalid_grant",
    "error_description": "The username or password is incorrect, or the account cannot sign in.",
}


async def test_password_grant_issues_es256_access_and_refresh_tokens(ident: Identity):
    user = await ident.user("perf_office", "audit", org_path="/gd/sz")
    r = await ident.login(user.username.upper())  # usernames are case-insensitive
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900 and body["refresh_token"]
    claims = {
        name: unverified_claim(body["access_token"], name)
        for name in ("sub", "roles", "org_id", "org_path", "iss", "aud", "iat", "nbf", "exp", "jti", "stamp", "typ")
    }
    assert claims["sub"] == str(user.id) and claims["roles"] == ["audit", "perf_office"]
    assert claims["org_path"] == "/gd/sz" and claims["typ"] == "user" and claims["stamp"] == 1
    assert claims["iss"] == "govperf" and claims["aud"] == "govperf" and claims["exp"] - claims["iat"] == 900
    assert all(v is not None for v in claims.values())
    me = await ident.me(bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "user" and me.json()["user"]["username"] == user.username
    assert "password_hash" not in me.text


async def test_every_login_failure_gets_the_same_answer(ident: Identity):
    disabled = await ident.user()
    disabled.disabled = True
    await ident.db.flush()
    answers = [
        await ident.login("nobody-here"),
        await ident.login((await ident.user()).username, "wrong password!"),
        await ident.login(disabled.username),
    ]
    assert [(a.status_code, a.json()) for a in answers] == [(400, GENERIC_LOGIN_FAILURE)] * 3


async def test_lockout_after_max_failed_logins_then_expires(ident: Identity):
    user = await ident.user()
    for _ in range(3):  # max_failed_logins in the test settings
        assert (await ident.login(user.username, "wrong password!")).status_code == 400
    locked = await ident.login(user.username)  # the right password no longer helps
    assert (locked.status_code, locked.json()) == (400, GENERIC_LOGIN_FAILURE)
    await ident.db.refresh(user)
    assert user.locked_until is not None
    # The lock runs out (moved into the past rather than waiting 10 minutes).
    await ident.db.execute(
        update(LoginThrottle)
        .where(LoginThrottle.user_id == user.id)
        .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    assert (await ident.login(user.username)).status_code == 200


async def test_successful_login_resets_the_failure_count(ident: Identity):
    user = await ident.user()
    for _ in range(2):
        await ident.login(user.username, "wrong password!")
    assert (await ident.login(user.username)).status_code == 200
    for _ in range(2):
        await ident.login(user.username, "wrong password!")
    assert (await ident.login(user.username)).status_code == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(ident: Identity):
    user = await ident.user()
    first = await ident.tokens(user)
    second = await ident.refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()["refresh_token"]
    assert rotated != first["refresh_token"]
    # The first token was already used: someone copied it. Both it and its successor die.
    reused = await ident.refresh(first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert (await ident.refresh(rotated)).status_code == 400
    families = (await ident.db.scalars(select(RefreshToken.revoked_at).where(RefreshToken.user_id == user.id))).all()
    assert families and all(revoked is not None for revoked in families)


async def test_revoked_or_unknown_refresh_token_is_refused(ident: Identity):
    tokens = await ident.tokens(await ident.user())
    revoked = await ident.client.post("/oauth/revoke", data={"token": tokens["refresh_token"]})
    assert revoked.status_code == 200
    assert (await ident.client.post("/oauth/revoke", data={"token": "never-issued"})).status_code == 200
    after = await ident.refresh(tokens["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    assert (await ident.refresh("never-issued")).json()["error"] == "invalid_grant"


async def test_disabled_user_cannot_refresh_and_its_access_token_stops(ident: Identity, client):
    _, admin = await ident.headers("admin", org_path="/")
    user = await ident.user()
    tokens = await ident.tokens(user)
    r = await client.patch(
        f"/api/v1/admin/users/{user.id}", json={"disabled": True}, headers={**admin, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert (await ident.me(bearer(tokens["access_token"]))).status_code == 401
    assert (await ident.refresh(tokens["refresh_token"])).status_code == 400


async def test_client_credentials_by_basic_and_by_form(ident: Identity, client):
    _, admin = await ident.headers("admin", org_path="/")
    created = await client.post(
        "/api/v1/admin/clients",
        json={
            "name": "Statistics bureau feed",
            "roles": ["department"],
            "org_unit_id": str(ident_org()),
            "org_path": "/gd",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    client_id, secret = created.json()["client_id"], created.json()["client_secret"]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    by_basic = await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    by_form = await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    for r in (by_basic, by_form):
        assert r.status_code == 200, r.text
        assert "refresh_token" not in r.json()
        assert unverified_claim(r.json()["access_token"], "typ") == "client"
    me = await ident.me(bearer(by_form.json()["access_token"]))
    assert me.status_code == 200 and me.json()["client"]["client_id"] == client_id
    wrong = await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x" * 32}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    revoked = await client.post(f"/api/v1/admin/clients/{created.json()['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await ident.me(bearer(by_form.json()["access_token"]))).status_code == 401
    again = await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    assert "basic" in again.headers["www-authenticate"].lower()


async def test_malformed_token_requests_get_rfc6749_errors(client):
    cases = [
        ({"grant_type": "implicit"}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "a"}, "invalid_request"),
        ({}, "invalid_request"),
        ({"grant_type": "password", "username": "a", "password": "x" * 300}, "invalid_request"),
    ]
    for form, error in cases:
        r = await client.post(TOKEN_URL, data=form)
        assert (r.status_code, r.json()["error"]) == (400, error), (form, r.text)
    as_json = await client.post(TOKEN_URL, json={"grant_type": "password"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    repeated = await client.post(
        TOKEN_URL,
        content=b"grant_type=password&grant_type=refresh_token",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert repeated.json()["error"] == "invalid_request"


async def test_password_change_ends_sessions(ident: Identity, client):
    _, admin = await ident.headers("admin", org_path="/")
    user = await ident.user()
    tokens = await ident.tokens(user)
    r = await client.post(
        f"/api/v1/admin/users/{user.id}/password", json={"new_password": "another long secret"}, headers=admin
    )
    assert r.status_code == 204, r.text
    assert (await ident.me(bearer(tokens["access_token"]))).status_code == 401
    assert (await ident.refresh(tokens["refresh_token"])).status_code == 400
    assert (await ident.login(user.username, PASSWORD)).status_code == 400
    assert (await ident.login(user.username, "another long secret")).status_code == 200


def ident_org() -> str:
    return "00000000-0000-7000-8000-000000000003"


async def test_a_login_ends_after_the_family_lifetime_however_often_it_is_refreshed(ident: Identity):
    user = await ident.user()
    first = await ident.tokens(user)
    second = await ident.refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    # The login happened longer ago than refresh_family_max_seconds (30 days by default).
    await ident.db.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id)
        .values(created_at=RefreshToken.created_at - dt.timedelta(days=31))
    )
    expired = await ident.refresh(second.json()["refresh_token"])
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
