async def test_ready_and_create(client, auth):
    assert (await client.get("/readyz")).status_code == 200
    r = await client.post("/api/v1/frameworks", json={"code": "c1", "name": "City", "org_unit_id": "00000000-0000-7000-8000-000000000001", "org_path": "/gd"}, headers=auth("perf_office", org_path="/gd"))
    assert r.status_code == 201, r.text
    r2 = await client.get(f"/api/v1/frameworks/{r.json()['id']}", headers=auth("audit", org_path="/gd"))
    assert r2.status_code == 200, r2.text
