"""/api/v1/dead-letters as mounted in every service (here indicator_svc): platform admins list,
replay and discard; everyone else is refused; bad input is a 4xx naming the field."""

from sqlalchemy import insert

from services.indicator_svc.db import TABLES

POISON = b'{"id": "\x00\xff\xfe broken'


async def seed(db) -> str:
    row_id = await db.scalar(
        insert(TABLES.dead_letter)
        .values(consumer="indicator-x", subject="govperf.a.b.c", payload=POISON, error="invalid envelope", deliveries=1)
        .returning(TABLES.dead_letter.c.id)
    )
    await db.flush()
    return str(row_id)


async def test_a_platform_admin_lists_replays_and_cannot_replay_twice(client, db, auth):
    row_id = await seed(db)
    admin = auth("admin", org_path="/")
    listing = await client.get("/api/v1/dead-letters", headers=admin)
    assert listing.status_code == 200, listing.text
    item = next(i for i in listing.json()["items"] if i["id"] == row_id)
    assert item["payload_bytes"] == len(POISON) and item["status"] == "open" and item["kind"] == "consumer"
    replayed = await client.post(f"/api/v1/dead-letters/consumer/{row_id}/replay", headers=admin)
    assert replayed.status_code == 202 and replayed.json() == {"status": "replay_requested"}
    again = await client.post(f"/api/v1/dead-letters/consumer/{row_id}/replay", headers=admin)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    listing = await client.get("/api/v1/dead-letters?status=replay_requested", headers=admin)
    assert [i["id"] for i in listing.json()["items"]] == [row_id]


async def test_discard_then_unknown_ids_answer_404(client, db, auth):
    row_id = await seed(db)
    admin = auth("admin", org_path="/")
    assert (await client.post(f"/api/v1/dead-letters/consumer/{row_id}/discard", headers=admin)).json() == {
        "status": "discarded"
    }
    assert (await client.post("/api/v1/dead-letters/consumer/424242424/discard", headers=admin)).status_code == 404
    assert (await client.post("/api/v1/dead-letters/outbox/not-a-uuid/replay", headers=admin)).status_code == 404


async def test_only_platform_admins_see_dead_letters(client, db, auth):
    await seed(db)
    assert (await client.get("/api/v1/dead-letters")).status_code == 401
    for headers in (auth("perf_office", org_path="/"), auth("admin", org_path="/gd"), auth("audit", org_path="/")):
        response = await client.get("/api/v1/dead-letters", headers=headers)
        assert response.status_code == 403, headers


async def test_bad_parameters_name_the_field(client, auth):
    admin = auth("admin", org_path="/")
    for query, field in (("limit=501", "limit"), ("kind=everything", "kind"), ("status=lost", "status")):
        response = await client.get(f"/api/v1/dead-letters?{query}", headers=admin)
        assert response.status_code == 422
        assert field in str(response.json()["errors"])
    bad_cursor = await client.get("/api/v1/dead-letters?cursor=%%%", headers=admin)
    assert bad_cursor.status_code == 400


async def test_publishing_an_event_larger_than_the_broker_accepts_is_refused_naming_the_limit(api, db, auth):
    """The size guard follows the connected server's max_payload (here pretended to be 8 KiB):
    the city framework's snapshot event is larger, so publishing answers 422 and nothing changes."""
    from shared.messaging import outbox

    draft = await api.import_city()
    real_limit = outbox._max_payload
    outbox.use_server_max_payload(8 * 1024)
    try:
        response = await api.publish(draft["id"], headers={**api.office, "If-Match": f'"{draft["lock_version"]}"'})
    finally:
        outbox.use_server_max_payload(real_limit)
    body = response.json()
    limit = 8 * 1024 - outbox.HEADER_ALLOWANCE - 8 * 1024 // 100
    assert response.status_code == 422, body
    assert f"at most {limit} bytes" in body["detail"] and body["errors"][0]["limit"] == limit
    assert (await api.get(draft["id"]))["status"] == "draft"
