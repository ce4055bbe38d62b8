"""Attacks on the identity layer, each a defect reproduced before the fix: parallel password guesses,
locking out the admin, an office taking over peers and privileged users, mismatched org units."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from contracts.org_units import OrgUnitChanged
from services.gateway.identity import service as identity
from services.gateway.identity.models import LoginThrottle, User
from services.gateway.identity.schemas import UserCreate
from services.gateway.identity.service import apply_org_unit_change, passwords_of
from services.gateway.keys.models import SigningKey
from services.gateway.keys.service import (
    decrypt_private_pem,
    generate_private_key,
    is_legacy_encryption,
    key_passphrase,
    reencrypt_legacy_keys,
)
from shared.db import committing
from tests.gateway.api.support import PASSWORD, PROBLEM_JSON, TOKEN_URL, Identity, bearer, unit_of

USERS = "/api/v1/admin/users"
V1 = {"If-Match": '"1"'}  # a new user's ETag
GUESSES = 20
GUESSER, OWNER = ("198.51.100.66", 4711), ("192.0.2.10", 4711)


def client_at(app: FastAPI, address: tuple[str, int]) -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (what uvicorn's proxy headers would give)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def login_form(username: str, password: str) -> dict[str, str]:
    return {"grant_type": "password", "username": username, "password": password}


# --- lockout ---------------------------------------------------------------------------------


@pytest.fixture
async def committed_user(gateway_app: FastAPI) -> AsyncIterator[User]:
    """A user committed for real: concurrent logins run in their own sessions and transactions."""
    data = UserCreate(
        username=f"race{uuid.uuid4().hex[:10]}",
        display_name="Raced",
        password=PASSWORD,
        roles=["department"],
        org_unit_id=unit_of("/gd/race"),
        org_path="/gd/race",
    )
    async with gateway_app.state.sessionmaker() as session, committing(session):
        user = await identity.create_user(session, principal=None, data=data, passwords=passwords_of(gateway_app))
    try:
        yield user
    finally:
        async with gateway_app.state.sessionmaker() as session, committing(session):
            await session.execute(delete(User).where(User.id == user.id))


async def test_parallel_wrong_guesses_cannot_defeat_the_lockout(gateway_app: FastAPI, committed_user: User):
    """Many guesses at once (max_failed_logins is 3): before the fix a late guess cleared the lock an
    earlier one had set (7 parallel guesses left one failure and no lock), and the right password worked."""
    async with client_at(gateway_app, GUESSER) as guesser:
        answers = await asyncio.gather(
            *(
                guesser.post(TOKEN_URL, data=login_form(committed_user.username, f"guess {i} wrong"))
                for i in range(GUESSES)
            )
        )
        assert [a.status_code for a in answers] == [400] * GUESSES
        right = await guesser.post(TOKEN_URL, data=login_form(committed_user.username, PASSWORD))
        assert right.status_code == 400  # the source is locked out; the right password does not help
    async with gateway_app.state.sessionmaker() as session:
        throttle = await session.get(LoginThrottle, (committed_user.id, GUESSER[0]))
        user = await session.get(User, committed_user.id)
    assert throttle is not None and throttle.locked_until is not None
    # Exactly max_failed_logins guesses were checked; the others met the lock.
    assert user is not None and user.locked_until is not None and user.failed_logins == 3
    # Only the guesser's address is locked: the owner elsewhere signs in.
    async with client_at(gateway_app, OWNER) as owner:
        assert (await owner.post(TOKEN_URL, data=login_form(committed_user.username, PASSWORD))).status_code == 200


async def test_nobody_can_lock_the_admin_out_from_another_address(gateway_app: FastAPI, ident: Identity):
    admin = await ident.user("admin", org_path="/", username=f"admin{uuid.uuid4().hex[:6]}")
    async with client_at(gateway_app, GUESSER) as guesser, client_at(gateway_app, OWNER) as owner:
        for _ in range(5):
            await guesser.post(TOKEN_URL, data=login_form(admin.username, "is it admin123?"))
        assert (await guesser.post(TOKEN_URL, data=login_form(admin.username, PASSWORD))).status_code == 400
        signed_in = await owner.post(TOKEN_URL, data=login_form(admin.username, PASSWORD))
        assert signed_in.status_code == 200, signed_in.text
        # An IPv6 guesser cannot escape its lock by moving to another address of its /64.
        async with (
            client_at(gateway_app, ("2001:db8:7:7::1", 1)) as v6a,
            client_at(gateway_app, ("2001:db8:7:7::2", 1)) as v6b,
        ):
            for _ in range(3):
                await v6a.post(TOKEN_URL, data=login_form(admin.username, "still guessing"))
            assert (await v6b.post(TOKEN_URL, data=login_form(admin.username, PASSWORD))).status_code == 400


async def test_an_admin_unlock_clears_every_locked_address(gateway_app: FastAPI, ident: Identity, client):
    user = await ident.user()
    _, admin = await ident.headers("admin", org_path="/")
    async with client_at(gateway_app, GUESSER) as guesser:
        for _ in range(3):
            await guesser.post(TOKEN_URL, data=login_form(user.username, "wrong wrong wrong"))
        assert (await guesser.post(TOKEN_URL, data=login_form(user.username, PASSWORD))).status_code == 400
        r = await client.patch(f"{USERS}/{user.id}", json={"unlock": True}, headers={**admin, **V1})
        assert r.status_code == 200 and r.json()["locked_until"] is None and r.json()["failed_logins"] == 0
        assert (await guesser.post(TOKEN_URL, data=login_form(user.username, PASSWORD))).status_code == 200


async def test_the_password_change_endpoint_is_throttled_like_the_token_endpoint(gateway_app: FastAPI, ident: Identity):
    user = await ident.user()
    body = {"username": user.username, "current_password": "wrong wrong wrong", "new_password": "a brand new one"}
    async with client_at(gateway_app, GUESSER) as guesser:
        for _ in range(3):
            assert (await guesser.post("/api/v1/account/password", json=body)).status_code == 401
        body["current_password"] = PASSWORD
        locked = await guesser.post("/api/v1/account/password", json=body)
        assert locked.status_code == 401 and locked.headers["content-type"].startswith(PROBLEM_JSON)
    assert (await ident.login(user.username)).status_code == 200  # unchanged


async def test_changing_your_own_password_ends_your_sessions(ident: Identity):
    user = await ident.user()
    tokens = await ident.tokens(user)
    body = {"username": user.username, "current_password": PASSWORD, "new_password": "a brand new passphrase"}
    assert (await ident.client.post("/api/v1/account/password", json=body)).status_code == 204
    assert (await ident.me(bearer(tokens["access_token"]))).status_code == 401
    assert (await ident.refresh(tokens["refresh_token"])).status_code == 400
    assert (await ident.login(user.username, "a brand new passphrase")).status_code == 200


# --- what a performance office may do to whom ------------------------------------------------------


async def test_an_office_cannot_take_over_peers_privileged_users_or_itself(ident: Identity, client):
    office_user, office = await ident.headers("perf_office", org_path="/gd/sz")
    _, admin = await ident.headers("admin", org_path="/")
    targets = [
        await ident.user("perf_office", org_path="/gd/sz"),  # a peer
        await ident.user("department", org_path="/gd/sz"),  # staff of the office's own unit, not below it
        *[await ident.user(role, org_path="/gd/sz/ft") for role in ("audit", "supervision", "verifier")],
    ]
    staff = await ident.user("department", org_path="/gd/sz/ft")
    district_office = await ident.user("perf_office", org_path="/gd/sz/ft")
    # Plain values: a refused request rolls the test's session back to here and expires the objects.
    target_ids, office_id, staff_id, district_id = [t.id for t in targets], office_user.id, staff.id, district_office.id
    await ident.db.commit()  # (a savepoint release) a refused request rolls back only its own work
    for target_id in target_ids:
        reset = await client.post(
            f"{USERS}/{target_id}/password", json={"new_password": "taken over now!"}, headers=office
        )
        assert reset.status_code == 403, reset.text
        disable = await client.patch(f"{USERS}/{target_id}", json={"disabled": True}, headers={**office, **V1})
        assert disable.status_code == 403, disable.text
    for role in ("audit", "supervision", "legal", "finance", "verifier", "expert"):
        own = await client.patch(
            f"{USERS}/{office_id}", json={"roles": ["perf_office", role]}, headers={**office, **V1}
        )
        assert own.status_code == 403, role
    renamed = await client.patch(f"{USERS}/{office_id}", json={"display_name": "Me"}, headers={**office, **V1})
    assert renamed.status_code == 403

    for role in ("audit", "supervision", "legal", "finance", "verifier", "expert", "admin", "federation"):
        grant = await client.patch(
            f"{USERS}/{staff_id}", json={"roles": ["department", role]}, headers={**office, **V1}
        )
        assert grant.status_code == 403, role
    ok = await client.patch(
        f"{USERS}/{staff_id}", json={"roles": ["department", "investigator"]}, headers={**office, **V1}
    )
    assert ok.status_code == 200, ok.text
    reset = await client.post(f"{USERS}/{staff_id}/password", json={"new_password": "a fresh start!"}, headers=office)
    assert reset.status_code == 204
    district = await client.patch(f"{USERS}/{district_id}", json={"disabled": True}, headers={**office, **V1})
    assert district.status_code == 200
    # An admin still grants the reserved roles.
    # Version 3: the role change and the password reset each moved it on.
    promoted = await client.patch(
        f"{USERS}/{staff_id}", json={"roles": ["audit"]}, headers={**admin, "If-Match": '"3"'}
    )
    assert promoted.status_code == 200, promoted.text


# --- org unit and org path ---------------------------------------------------------------------


def user_body(org_path: str, org_unit_id: uuid.UUID | str) -> dict[str, object]:
    return {
        "username": f"o{uuid.uuid4().hex[:10]}",
        "display_name": "Org Person",
        "password": "a long password",
        "roles": ["department"],
        "org_unit_id": str(org_unit_id),
        "org_path": org_path,
    }


def problem_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM_JSON), response.text
    return {e["field"] for e in response.json()["errors"]}


async def test_org_unit_and_org_path_must_agree_before_the_org_tree_is_known(ident: Identity, client):
    _, admin = await ident.headers("admin", org_path="/")
    futian = uuid.uuid4()
    assert (await client.post(USERS, json=user_body("/gd/sz/futian", futian), headers=admin)).status_code == 201
    # The same unit at another path, another unit at the same path, the root with a unit of its own.
    assert "org_unit_id" in problem_fields(await client.post(USERS, json=user_body("/gd/gz", futian), headers=admin))
    assert "org_path" in problem_fields(
        await client.post(USERS, json=user_body("/gd/sz/futian", uuid.uuid4()), headers=admin)
    )
    assert "org_path" in problem_fields(await client.post(USERS, json=user_body("/", uuid.uuid4()), headers=admin))
    created = (await client.post(USERS, json=user_body("/gd/sz/futian", futian), headers=admin)).json()
    moved = await client.patch(f"{USERS}/{created['id']}", json={"org_path": "/gd/gz"}, headers={**admin, **V1})
    assert "org_unit_id" in problem_fields(moved)
    both = await client.patch(
        f"{USERS}/{created['id']}",
        json={"org_path": "/gd/gz", "org_unit_id": str(uuid.uuid4())},
        headers={**admin, **V1},
    )
    assert both.status_code == 200, both.text


async def test_once_the_org_tree_arrives_units_must_exist_at_their_path(ident: Identity, client, db):
    _, admin = await ident.headers("admin", org_path="/")
    now = dt.datetime.now(dt.UTC)
    sz, gone = uuid.uuid4(), uuid.uuid4()
    for unit, path in ((sz, "/gd/sz"), (gone, "/gd/old")):
        change = OrgUnitChanged(id=unit, code=path.rsplit("/", 1)[1], name=path, kind="city", org_path=path)
        await apply_org_unit_change(db, change=change, changed_at=now)
    await apply_org_unit_change(
        db,
        change=OrgUnitChanged(id=gone, code="old", name="old", kind="city", org_path="/gd/old", deleted=True),
        changed_at=now + dt.timedelta(seconds=1),
    )
    await db.commit()  # (a savepoint release) a refused request rolls back only its own work
    assert "org_unit_id" in problem_fields(
        await client.post(USERS, json=user_body("/gd/new", uuid.uuid4()), headers=admin)
    )
    assert "org_path" in problem_fields(await client.post(USERS, json=user_body("/gd/gz", sz), headers=admin))
    assert "org_unit_id" in problem_fields(await client.post(USERS, json=user_body("/gd/old", gone), headers=admin))
    assert (await client.post(USERS, json=user_body("/gd/sz", sz), headers=admin)).status_code == 201
    # A late, older event never rolls the copy back: the unit stays at its newer path.
    await apply_org_unit_change(
        db,
        change=OrgUnitChanged(id=gone, code="old", name="old", kind="city", org_path="/gd/old"),
        changed_at=now - dt.timedelta(seconds=5),
    )
    assert "org_unit_id" in problem_fields(await client.post(USERS, json=user_body("/gd/old", gone), headers=admin))


# --- signing keys at rest ------------------------------------------------------------------------


async def test_legacy_encrypted_signing_keys_are_re_encrypted_and_still_sign(gateway_app: FastAPI, db):
    """Keys written before the change (PBKDF2 at 2,048 iterations) are moved to scrypt at startup."""
    from cryptography.hazmat.primitives import serialization

    from shared.auth.jwt import public_jwk

    passphrase = key_passphrase(gateway_app.state.settings)
    private = generate_private_key("ES256")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    legacy = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(passphrase)
    ).decode()
    jwk = public_jwk(pem, "ES256")
    now = dt.datetime.now(dt.UTC)
    db.add(
        SigningKey(
            kid=jwk["kid"],
            algorithm="ES256",
            public_jwk=jwk,
            encrypted_private_pem=legacy,
            activates_at=now - dt.timedelta(days=400),
            retires_at=now - dt.timedelta(days=399),
            publish_until=now + dt.timedelta(minutes=5),
            created_by="legacy",
            created_at=now - dt.timedelta(days=400),
        )
    )
    await db.flush()
    assert await reencrypt_legacy_keys(db, passphrase=passphrase) >= 1
    stored = await db.scalar(select(SigningKey.encrypted_private_pem).where(SigningKey.kid == jwk["kid"]))
    assert stored is not None and not is_legacy_encryption(stored) and stored.startswith("govperf-key-v2$scrypt$")
    assert decrypt_private_pem(stored, passphrase, kid=jwk["kid"]) == pem
    assert await reencrypt_legacy_keys(db, passphrase=passphrase) == 0


async def test_forgotten_sources_are_pruned_on_the_next_failure(ident: Identity, db):
    user = await ident.user()
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    db.add_all(
        [
            LoginThrottle(user_id=user.id, source=f"203.0.113.{i}", failures=2, last_failure_at=long_ago)
            for i in range(50)
        ]
    )
    db.add(
        LoginThrottle(
            user_id=user.id,
            source="203.0.113.200",
            failures=0,
            last_failure_at=long_ago,
            locked_until=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
        )
    )
    await db.flush()
    assert (await ident.login(user.username, "wrong wrong wrong")).status_code == 400
    left = set(await db.scalars(select(LoginThrottle.source).where(LoginThrottle.user_id == user.id)))
    assert left == {"203.0.113.200", "127.0.0.1"}  # the live lock and the new failure stay
