"""Cases, counseling and rectification over HTTP: the loop, authorization and hostile input."""

import uuid

from tests.feedback_svc.api.conftest import FUTIAN, session_body
from tests.feedback_svc.support import CITY, if_match


async def counsel(client, office, seeded, *deadlines):
    response = await client.post(
        f"/api/v1/cases/{seeded.case_id}/sessions", headers=office, json=session_body(*deadlines)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_loop_from_case_to_closure(client, office, futian, auth, seeded):
    case = (await client.get(f"/api/v1/cases/{seeded.case_id}", headers=futian)).json()
    assert case["status"] == "open" and case["object_name"] == "Futian"
    session = await counsel(client, office, seeded, "2099-06-30")
    assert (await client.get(f"/api/v1/cases/{seeded.case_id}", headers=office)).json()["status"] == "counseled"
    ack = await client.post(f"/api/v1/sessions/{session['id']}/acknowledgement", headers=futian, json={"comment": "ok"})
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "futian-staff"
    (task_id,) = session["task_ids"]
    assert (await client.get(f"/api/v1/cases/{seeded.case_id}", headers=office)).json()["status"] == "plan_agreed"
    progress = await client.post(
        f"/api/v1/tasks/{task_id}/progress", headers=futian, json={"note": "half way", "percent_done": 50}
    )
    assert progress.status_code == 201
    assert (await client.get(f"/api/v1/cases/{seeded.case_id}", headers=office)).json()["status"] == "in_progress"
    await client.post(
        f"/api/v1/tasks/{task_id}/progress", headers=futian, json={"note": "done", "percent_done": 90, "submit": True}
    )
    verifier = auth("verifier", org_path=CITY)
    verified = await client.post(
        f"/api/v1/tasks/{task_id}/verification",
        headers=await if_match(client, f"/api/v1/tasks/{task_id}", verifier),
        json={"approved": True, "note": "checked on site"},
    )
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    case = (await client.get(f"/api/v1/cases/{seeded.case_id}", headers=office)).json()
    assert case["status"] == "verified"
    closed = await client.post(
        f"/api/v1/cases/{seeded.case_id}/transitions",
        headers=office | {"If-Match": f'"{case["lock_version"]}"'},
        json={"action": "close"},
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    public = await client.get("/public/feedback/cases", params={"plan_id": str(seeded.plan_id)})
    assert [c["object_name"] for c in public.json()["items"]] == ["Futian"]
    assert "org_unit_id" not in public.json()["items"][0]


async def test_illegal_transitions_are_409_and_versions_are_required(client, office, seeded):
    url = f"/api/v1/cases/{seeded.case_id}/transitions"
    blind = await client.post(url, headers=office, json={"action": "start"})
    assert blind.status_code == 428 and blind.json()["errors"][0]["field"] == "If-Match"
    current = await if_match(client, f"/api/v1/cases/{seeded.case_id}", office)
    close = await client.post(url, headers=current, json={"action": "close"})
    assert close.status_code == 409 and "open cannot close" in close.json()["detail"]
    verify = await client.post(url, headers=current, json={"action": "verify"})
    assert verify.status_code == 409
    stale = await client.post(
        f"/api/v1/cases/{seeded.case_id}/transitions",
        headers=office | {"If-Match": '"99"'},
        json={"action": "start"},
    )
    assert stale.status_code == 412 and "changed meanwhile" in stale.json()["detail"]


async def test_other_units_and_foreign_roles_see_nothing(client, auth, seeded):
    luohu = auth("department", org_path=f"{CITY}/luohu")
    assert (await client.get(f"/api/v1/cases/{seeded.case_id}", headers=luohu)).status_code == 404
    assert (await client.get("/api/v1/cases", headers=luohu)).json()["items"] == []
    expert = auth("expert", org_path=CITY)
    assert (await client.get(f"/api/v1/cases/{seeded.case_id}", headers=expert)).status_code == 404
    assert (await client.get("/api/v1/cases")).status_code == 401


async def test_roles_own_their_steps(client, office, futian, auth, seeded):
    refused = await client.post(f"/api/v1/cases/{seeded.case_id}/sessions", headers=futian, json=session_body())
    assert refused.status_code == 403
    session = await counsel(client, office, seeded, "2099-06-30")
    # The office cannot acknowledge on the unit's behalf; escalating is supervision's.
    ack = await client.post(f"/api/v1/sessions/{session['id']}/acknowledgement", headers=office, json={})
    assert ack.status_code == 403
    escalate = {"action": "escalate", "reason": "stalled"}
    assert (
        await client.post(f"/api/v1/cases/{seeded.case_id}/transitions", headers=office, json=escalate)
    ).status_code == 403
    supervision = auth("supervision", org_path=CITY)
    case_url = f"/api/v1/cases/{seeded.case_id}"
    done = await client.post(
        f"{case_url}/transitions", headers=await if_match(client, case_url, supervision), json=escalate
    )
    assert done.status_code == 200 and done.json()["status"] == "escalated"
    no_reason = await client.post(
        f"{case_url}/transitions",
        headers=await if_match(client, case_url, supervision),
        json={"action": "resolve_escalation"},
    )
    assert no_reason.status_code == 200 and no_reason.json()["status"] == "counseled"  # where it was


async def test_owner_unit_cannot_verify_its_own_task(client, office, futian, auth, seeded):
    session = await counsel(client, office, seeded, "2099-06-30")
    (task_id,) = session["task_ids"]
    task_url = f"/api/v1/tasks/{task_id}"
    open_verify = await client.post(
        f"{task_url}/verification",
        headers=await if_match(client, task_url, office),
        json={"approved": True, "note": "x"},
    )
    assert open_verify.status_code == 409  # nothing submitted yet
    await client.post(
        f"/api/v1/tasks/{task_id}/progress", headers=futian, json={"note": "done", "percent_done": 100, "submit": True}
    )
    insider = auth("verifier", org_path=FUTIAN)
    own = await client.post(
        f"/api/v1/tasks/{task_id}/verification", headers=insider, json={"approved": True, "note": "we did it"}
    )
    assert own.status_code == 403 and "outside its owner unit" in own.json()["detail"]
    blind = await client.post(f"{task_url}/verification", headers=office, json={"approved": True, "note": "x"})
    assert blind.status_code == 428
    sent_back = await client.post(
        f"{task_url}/verification",
        headers=await if_match(client, task_url, office),
        json={"approved": False, "note": "no evidence"},
    )
    assert sent_back.json()["status"] == "in_progress"


async def test_progress_evidence_must_be_uploaded_first(client, office, futian, seeded, feedback_app):
    session = await counsel(client, office, seeded, "2099-06-30")
    (task_id,) = session["task_ids"]
    unknown = {"sha256": "b" * 64, "name": "report.pdf"}
    refused = await client.post(
        f"/api/v1/tasks/{task_id}/progress",
        headers=futian,
        json={"note": "see report", "percent_done": 40, "evidence": [unknown]},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "evidence.0.sha256", "message": "no evidence stored under this hash"}]
    upload = await client.post(
        "/api/v1/evidence", headers=futian | {"Content-Type": "application/pdf"}, content=b"%PDF- report"
    )
    assert upload.status_code == 201
    sha = upload.json()["sha256"]
    cited = await client.post(
        f"/api/v1/tasks/{task_id}/progress",
        headers=futian,
        json={"note": "see report", "percent_done": 40, "evidence": [{"sha256": sha, "name": "report.pdf"}]},
    )
    assert cited.status_code == 201
    assert (await client.get(f"/api/v1/evidence/{sha}", headers=office)).content == b"%PDF- report"
    limit = feedback_app.state.settings.max_evidence_bytes
    huge = await client.post(
        "/api/v1/evidence", headers=futian | {"Content-Type": "text/plain"}, content=b"x" * (limit + 1)
    )
    assert huge.status_code == 413
    disguised = await client.post(
        "/api/v1/evidence", headers=futian | {"Content-Type": "application/pdf"}, content=b"MZ\x90 not a pdf"
    )
    assert disguised.status_code == 415
    assert (await client.get("/api/v1/evidence/..%2Fetc%2Fpasswd", headers=office)).status_code in (404, 422)


async def test_extensions_move_the_deadline_only_when_the_office_approves(client, office, futian, seeded):
    session = await counsel(client, office, seeded, "2027-06-30")
    (task_id,) = session["task_ids"]
    earlier = await client.post(
        f"/api/v1/tasks/{task_id}/extensions", headers=futian, json={"requested_deadline": "2027-05-01", "reason": "x"}
    )
    assert earlier.status_code == 422 and earlier.json()["errors"][0]["field"] == "requested_deadline"
    body = {"requested_deadline": "2027-09-30", "reason": "Flood season delayed the works."}
    request = await client.post(f"/api/v1/tasks/{task_id}/extensions", headers=futian, json=body)
    assert request.status_code == 201
    again = await client.post(f"/api/v1/tasks/{task_id}/extensions", headers=futian, json=body)
    assert again.status_code == 409
    extension_id = request.json()["id"]
    self_approved = await client.post(
        f"/api/v1/extensions/{extension_id}/decision", headers=futian, json={"approve": True}
    )
    assert self_approved.status_code == 403
    approved = await client.post(f"/api/v1/extensions/{extension_id}/decision", headers=office, json={"approve": True})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert (await client.get(f"/api/v1/tasks/{task_id}", headers=futian)).json()["deadline"] == "2027-09-30"


async def test_overdue_sweep_escalates_to_supervision_once(client, office, auth, seeded):
    session = await counsel(client, office, seeded, "2020-01-31", "2099-01-31")
    assert (await client.post("/api/v1/sweeps/overdue", headers=office)).json() == {"marked_overdue": 1}
    assert (await client.post("/api/v1/sweeps/overdue", headers=office)).json() == {"marked_overdue": 0}
    worklist = (await client.get("/api/v1/escalations", headers=auth("supervision", org_path=CITY))).json()
    assert [c["id"] for c in worklist["cases"]] == [seeded.case_id]
    assert [t["id"] for t in worklist["overdue_tasks"]] == [session["task_ids"][0]]
    assert worklist["cases"][0]["escalation_reason"] == "A rectification task passed its deadline."
    department = auth("department", org_path=CITY)
    assert (await client.get("/api/v1/escalations", headers=department)).status_code == 403
    assert (await client.post("/api/v1/sweeps/overdue", headers=department)).status_code == 403


async def test_idempotent_creates_happen_once(client, office, auth, seeded):
    headers = office | {"Idempotency-Key": "session-1"}
    body = session_body("2099-06-30")
    first = await client.post(f"/api/v1/cases/{seeded.case_id}/sessions", headers=headers, json=body)
    second = await client.post(f"/api/v1/cases/{seeded.case_id}/sessions", headers=headers, json=body)
    assert second.status_code == 201 and second.json() == first.json()
    tasks = (await client.get("/api/v1/tasks", params={"case_ids": seeded.case_id}, headers=office)).json()
    assert len(tasks["items"]) == 1
    futian = {"Authorization": auth("department", org_path=FUTIAN)["Authorization"], "Idempotency-Key": "p-1"}
    task_id = tasks["items"][0]["id"]
    progress = {"note": "first half", "percent_done": 50}
    first_update = await client.post(f"/api/v1/tasks/{task_id}/progress", headers=futian, json=progress)
    retried = await client.post(f"/api/v1/tasks/{task_id}/progress", headers=futian, json=progress)
    assert retried.json() == first_update.json() and retried.headers["Idempotent-Replayed"] == "true"
    assert len((await client.get(f"/api/v1/tasks/{task_id}/progress", headers=office)).json()["items"]) == 1


async def test_hostile_input_is_refused_with_the_field_named(client, office, seeded):
    url = f"/api/v1/cases/{seeded.case_id}/sessions"
    extra = await client.post(url, headers=office, json=session_body() | {"status": "closed"})
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "status"
    crowd = await client.post(url, headers=office, json=session_body() | {"participants": ["x"] * 51})
    assert crowd.status_code == 422 and crowd.json()["errors"][0]["field"] == "participants"
    ancient = await client.post(url, headers=office, json=session_body("1900-01-01"))
    assert ancient.status_code == 422 and ancient.json()["errors"][0]["field"] == "agreed_actions.0.deadline"
    elsewhere = await client.post(url, headers=office, json=session_body("2099-01-01", owner="/gd/gz/tianhe"))
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"][0]["field"] == "agreed_actions.0.owner_org_path"
    assert (await client.get(f"/api/v1/cases/{uuid.uuid4()}", headers=office)).status_code == 404
    bad_ids = await client.get("/api/v1/cases", params={"ids": "not-a-uuid"}, headers=office)
    assert bad_ids.status_code == 400 and bad_ids.json()["errors"][0]["field"] == "ids"


async def test_case_policy_decides_what_opens_cases(client, office, auth):
    plan_id = uuid.uuid4()
    body = {"org_path": CITY, "min_attainment": "0.9", "min_satisfaction": "80", "grade_cutoff": "C"}
    created = await client.put(f"/api/v1/plans/{plan_id}/case-policy", headers=office, json=body)
    assert created.status_code == 200 and created.headers["ETag"] == '"1"'
    stale = await client.put(f"/api/v1/plans/{plan_id}/case-policy", headers=office | {"If-Match": '"7"'}, json=body)
    assert stale.status_code == 412
    blind = await client.put(f"/api/v1/plans/{plan_id}/case-policy", headers=office, json=body)
    assert blind.status_code == 428
    finance = auth("finance", org_path=CITY)
    assert (await client.put(f"/api/v1/plans/{plan_id}/case-policy", headers=finance, json=body)).status_code == 403
    out_of_range = await client.put(
        f"/api/v1/plans/{plan_id}/case-policy", headers=office, json=body | {"min_attainment": "1.5"}
    )
    assert out_of_range.status_code == 422 and out_of_range.json()["errors"][0]["field"] == "min_attainment"
