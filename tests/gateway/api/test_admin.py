"""Admin API: who may manage which users and clients; audit entries; the first admin."""

from __future__ import annotations

import os
import traceback
import uuid

import pytest
from sqlalchemy import delete

from services.gateway.identity import service as identity
from services.gateway.identity.models import User
from tests.gateway.api.support import PROBLEM_JSON, Identity, unit_of

USERS = "/api/v1/admin/users"


def new_user(org_path: str = "/gd/sz/futian", roles: list[str] | None = None, **extra: object) -> dict[str, object]:
    return {
        "username": f"n{uuid.uuid4().hex[:10]}",
        "display_name": "New Person",
        "password": "a long password",
        "roles": roles or ["department"],
        "org_unit_id": str(unit_of(org_path)),
        "org_path": org_path,
        **extra,
    }


V1 = {"If-Match": '"1"'}  # a new user's ETag


async def test_admin_creates_reads_lists_and_updates_users(ident: Identity, client):
    _, admin = await ident.headers("admin", org_path="/")
    r = await client.post(USERS, json=new_user("/gd/gz"), headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["etag"] == '"1"' and "a long password" not in r.text and "password_hash" not in r.text
    got = await client.get(f"{USERS}/{created['id']}", headers=admin)
    assert got.status_code == 200 and got.json()["username"] == created["username"]
    stale = await client.patch(
        f"{USERS}/{created['id']}", json={"display_name": "X"}, headers={**admin, "If-Match": '"7"'}
    )
    assert stale.status_code == 412 and stale.headers["content-type"].startswith(PROBLEM_JSON)
    blind = await client.patch(f"{USERS}/{created['id']}", json={"display_name": "X"}, headers=admin)
    assert blind.status_code == 428 and blind.headers["content-type"].startswith(PROBLEM_JSON)
    ok = await client.patch(
        f"{USERS}/{created['id']}", json={"roles": ["admin", "audit"]}, headers={**admin, "If-Match": '"1"'}
    )
    assert ok.status_code == 200 and ok.json()["roles"] == ["admin", "audit"] and ok.headers["etag"] == '"2"'
    page1 = await client.get(USERS, params={"limit": 1}, headers=admin)
    assert page1.status_code == 200 and len(page1.json()["items"]) == 1 and page1.json()["next_cursor"]


async def test_perf_office_manages_only_its_subtree_and_never_grants_admin(ident: Identity, client):
    _, office = await ident.headers("perf_office", org_path="/gd/sz")
    inside = await client.post(USERS, json=new_user("/gd/sz/futian"), headers=office)
    assert inside.status_code == 201, inside.text
    assert (await client.post(USERS, json=new_user("/gd/gz"), headers=office)).status_code == 403
    assert (await client.post(USERS, json=new_user("/gd/sz", ["admin"]), headers=office)).status_code == 403
    assert (await client.post(USERS, json=new_user("/gd/sz", ["federation"]), headers=office)).status_code == 403
    user_id = inside.json()["id"]
    moved_out = await client.patch(f"{USERS}/{user_id}", json={"org_path": "/gd/gz"}, headers=office | V1)
    assert moved_out.status_code == 403
    promoted = await client.patch(f"{USERS}/{user_id}", json={"roles": ["admin"]}, headers=office | V1)
    assert promoted.status_code == 403
    fine = await client.patch(f"{USERS}/{user_id}", json={"roles": ["investigator", "department"]}, headers=office | V1)
    assert fine.status_code == 200 and fine.json()["roles"] == ["department", "investigator"]

    elsewhere = await ident.user("department", org_path="/gd/gz")
    assert (await client.get(f"{USERS}/{elsewhere.id}", headers=office)).status_code == 404
    listed = {u["id"] for u in (await client.get(USERS, params={"limit": 500}, headers=office)).json()["items"]}
    assert user_id in listed and str(elsewhere.id) not in listed
    admin_inside = await ident.user("admin", org_path="/gd/sz/nanshan")
    reset = await client.post(
        f"{USERS}/{admin_inside.id}/password", json={"new_password": "taken over now!"}, headers=office
    )
    assert reset.status_code == 403
    assert (
        await client.post(
            "/api/v1/admin/clients",
            json={"name": "c", "roles": ["department"], "org_unit_id": str(unit_of("/gd/sz")), "org_path": "/gd/sz"},
            headers=office,
        )
    ).status_code == 403


async def test_other_roles_are_forbidden(ident: Identity, client):
    _, dept = await ident.headers("department", "audit")
    for method, path in (
        ("GET", USERS),
        ("POST", USERS),
        ("GET", "/api/v1/admin/clients"),
        ("GET", "/api/v1/admin/audit"),
        ("POST", "/api/v1/admin/keys/rotate"),
    ):
        r = await client.request(method, path, headers=dept, json=new_user() if method == "POST" else None)
        assert r.status_code == 403, (method, path, r.text)
    assert (await client.get(USERS)).status_code == 401


async def test_bad_admin_input_is_problem_json(ident: Identity, client):
    _, admin = await ident.headers("admin", org_path="/")
    for body in (
        new_user(password="short"),
        new_user(org_path="GD/SZ"),
        new_user(roles=["king"]),
        new_user(extra_field=1),
        new_user(roles=["audit", "audit"]),
    ):
        r = await client.post(USERS, json=body, headers=admin)
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM_JSON), body
    body = new_user()
    assert (await client.post(USERS, json=body, headers=admin)).status_code == 201
    assert (await client.post(USERS, json=body, headers=admin)).status_code == 409  # username taken


async def test_create_user_is_idempotent_per_key(ident: Identity, client):
    _, admin = await ident.headers("admin", org_path="/")
    body, key = new_user(), {"Idempotency-Key": "create-once"}
    first = await client.post(USERS, json=body, headers={**admin, **key})
    again = await client.post(USERS, json=body, headers={**admin, **key})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"


async def test_admin_actions_are_audited(ident: Identity, client):
    admin_user, admin = await ident.headers("admin", org_path="/")
    created = (await client.post(USERS, json=new_user(), headers=admin)).json()
    await client.patch(f"{USERS}/{created['id']}", json={"disabled": True}, headers=admin | V1)
    await client.post(f"{USERS}/{created['id']}/password", json={"new_password": "fresh long secret"}, headers=admin)
    made = (
        await client.post(
            "/api/v1/admin/clients",
            json={"name": "feed", "roles": ["department"], "org_unit_id": str(unit_of("/gd")), "org_path": "/gd"},
            headers=admin,
        )
    ).json()
    await client.post(f"/api/v1/admin/clients/{made['id']}/revoke", headers=admin)
    r = await client.get("/api/v1/admin/audit", params={"limit": 500}, headers=admin)
    assert r.status_code == 200
    mine = [e for e in r.json()["items"] if e["actor"] == str(admin_user.id)]
    assert [e["action"] for e in mine] == [
        "user.created",
        "user.updated",
        "user.password_reset",
        "client.created",
        "client.revoked",
    ]
    assert mine[1]["details"]["changes"]["disabled"] == {"from": False, "to": True}
    assert mine[0]["target_id"] == created["id"] and mine[3]["target_id"] == made["client_id"]
    assert made["client_secret"] not in r.text and "fresh long secret" not in r.text


async def test_a_generated_first_admin_password_must_be_changed_before_any_token(ident: Identity, db):
    await db.execute(delete(User))
    generated = await identity.ensure_first_admin(db, password=None, passwords=ident.passwords)
    assert generated is not None and len(generated) >= 24
    assert await identity.ensure_first_admin(db, password=None, passwords=ident.passwords) is None
    refused = await ident.login("admin", generated)
    assert refused.status_code == 400 and "access_token" not in refused.json()
    assert "/api/v1/account/password" in refused.json()["error_description"]
    # A wrong guess learns nothing about the account's state.
    assert "account/password" not in (await ident.login("admin", "not the generated one")).text

    change = "/api/v1/account/password"
    wrong = await ident.client.post(
        change, json={"username": "admin", "current_password": "guess guess guess", "new_password": "mine mine mine"}
    )
    assert wrong.status_code == 401 and wrong.headers["content-type"].startswith(PROBLEM_JSON)
    same = await ident.client.post(
        change, json={"username": "admin", "current_password": generated, "new_password": generated}
    )
    assert same.status_code == 409
    chosen = "the admin's own passphrase"
    ok = await ident.client.post(
        change, json={"username": "admin", "current_password": generated, "new_password": chosen}
    )
    assert ok.status_code == 204, ok.text
    assert (await ident.login("admin", generated)).status_code == 400
    r = await ident.login("admin", chosen)
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = (await ident.client.get("/api/v1/me", headers=headers)).json()
    assert me["roles"] == ["admin"] and me["org_path"] == "/" and me["user"]["must_change_password"] is False
    audit = (await ident.client.get("/api/v1/admin/audit", params={"limit": 500}, headers=headers)).json()
    actions = {(e["actor"], e["action"]) for e in audit["items"]}
    assert ("system", "user.created") in actions and (me["subject"], "user.password_changed") in actions
    assert generated not in str(audit) and chosen not in str(audit)


async def test_a_short_configured_admin_password_never_appears_in_the_error(ident: Identity, db):
    await db.execute(delete(User))
    secret = "tooshort-7x"
    with pytest.raises(RuntimeError) as failure:
        await identity.ensure_first_admin(db, password=secret, passwords=ident.passwords)
    shown = "".join(traceback.format_exception(failure.value))
    assert "GOVPERF_ADMIN_PASSWORD" in shown and secret not in shown


def test_the_generated_password_file_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "keys" / identity.FIRST_ADMIN_PASSWORD_FILE
    identity.write_secret_file(path, "one-time secret")
    identity.write_secret_file(path, "the newer one")  # a stale file of a wiped database is replaced
    assert path.read_text() == "the newer one\n" and os.stat(path).st_mode & 0o777 == 0o600


async def test_first_admin_uses_the_configured_password(ident: Identity, db):
    await db.execute(delete(User))
    assert await identity.ensure_first_admin(db, password="configured admin pw", passwords=ident.passwords) is None
    assert (await ident.login("admin", "configured admin pw")).status_code == 200
