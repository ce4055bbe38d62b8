import json
from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework import codecs

ORG = "00000000-0000-7000-8000-000000000001"

async def test_probe(client, auth):
    h = auth("perf_office", org_path="/gd/sz")
    c = load_city_framework()
    doc = json.loads(codecs.to_json(c))
    doc["indicators"].append(dict(doc["indicators"][-1]))
    r = await client.post(f"/api/v1/frameworks/import?format=json&org_unit_id={ORG}&org_path=/gd/sz", content=json.dumps(doc), headers=h)
    print("dup import", r.status_code, r.text[:300])
    r = await client.post("/api/v1/frameworks", json={"code": "x1", "name": "X", "org_unit_id": ORG, "org_path": "/gd/sz"}, headers=h)
    fid = r.json()["id"]
    print("create", r.status_code, dict(r.headers))
    r = await client.post(f"/api/v1/frameworks/{fid}/indicators", json={"code": "V", "name": "veto", "weight": 0, "kind": "veto", "scoring": {"method": "veto", "events": ["a\u0000b"], "cap_grade": "C"}}, headers=h)
    print("nul veto", r.status_code, r.text[:300])
    r = await client.post(f"/api/v1/frameworks/{fid}/indicators", content=b'{"code":"A","name":"a","weight":1,"\\ud800":1}', headers={**h, "content-type": "application/json"})
    print("surrogate key", r.status_code, r.text[:300])
    r = await client.post(f"/api/v1/frameworks/{fid}/indicators", content=b'{"code":"A","name":"a","weight":NaN}', headers={**h, "content-type": "application/json"})
    print("nan", r.status_code, r.text[:300])
    r = await client.post(f"/api/v1/frameworks/{fid}/indicators", json={"code": "A", "name": "a", "weight": 1}, headers=h)
    print("add", r.status_code, r.text[:300])
    r = await client.put(f"/api/v1/frameworks/{fid}/indicators/A", json={"code": "A", "name": "a", "weight": 1, "parent_code": "ZZ"}, headers=h)
    print("replace unknown parent", r.status_code, r.text[:300])
    r = await client.post(f"/api/v1/frameworks/{fid}/indicators", content=b'{"code": "B", "name": "b", "weight": 0, "kind": "veto", "scoring": {"method": "veto", "events": ["x"], "cap_grade": "\\ud800"}}', headers={**h, "content-type": "application/json"})
    print("surrogate capgrade", r.status_code, r.text[:300])
    r = await client.post("/api/v1/frameworks", json={"code": "x1", "name": "X", "org_unit_id": ORG, "org_path": "/gd/sz"}, headers={**h, "Idempotency-Key": "k1"})
    print("dup create", r.status_code, r.text[:300])
    r = await client.post("/api/v1/frameworks", json={"code": "x2", "name": "X", "org_unit_id": ORG, "org_path": "/gd/sz"}, headers={**h, "Idempotency-Key": "k1"})
    r2 = await client.post("/api/v1/frameworks", json={"code": "x2", "name": "X", "org_unit_id": ORG, "org_path": "/gd/sz"}, headers={**h, "Idempotency-Key": "k1"})
    print("idem", r.status_code, r2.status_code, dict(r2.headers))
    r = await client.post(f"/api/v1/frameworks/{fid}/publish", headers=h)
    print("publish", r.status_code, r.text[:600])
