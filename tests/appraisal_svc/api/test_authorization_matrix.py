"""Every route, every role: the wrong role is a 403, the right role gets past authorization, and a
right role from another county finds the resource missing (404) or is forbidden to name it (403)."""

import uuid

from fastapi import FastAPI

from shared.auth.principal import Role
from tests.appraisal_svc.api.support import Api, World

R = Role
READ = {R.admin, R.perf_office, R.department, R.verifier, R.audit, R.finance, R.supervision, R.legal}
OFFICE = {R.admin, R.perf_office}
SUBMIT = {R.admin, R.perf_office, R.department}
OBJECTION_READERS = {R.admin, R.perf_office, R.department, R.audit, R.finance, R.supervision, R.legal}
RESULT_READERS = {R.admin, R.perf_office, R.audit, R.finance, R.supervision, R.legal}


async def scenario(api: Api, world: World) -> list[tuple[str, str, str, dict, set[Role], set[int]]]:
    """(method, route template, concrete path, request kwargs, allowed roles, out-of-scope statuses)."""
    plan_id, ft = world.plan["id"], world.objects["ft"]
    unit = world.counties["ft"]["id"]
    await api.transition(plan_id, "targets_open")
    target = await api.ok(
        "POST", f"/plans/{plan_id}/targets", json={"object_id": ft, "indicator_code": "E1", "target": "10"}
    )
    point = await api.submit("ft", ft, "10")
    flag = await api.ok("POST", f"/data-points/{point['id']}/flags", 201, json={"note": "n"}, headers=api.as_("audit"))
    evidence = await api.ok(
        "POST",
        "/evidence",
        201,
        params={"name": "e.txt"},
        content=b"evidence",
        headers={**api.office, "Content-Type": "text/plain"},
    )
    missing = {404}
    hidden_or_forbidden = {403, 404, 422}
    panel = {
        "expert": "expert-li",
        "expert_org_path": "/gd/gz",
        "object_id": world.objects["ns"],
        "indicator_code": "Q1",
        "subject": "experts",
    }
    (assignment,) = (await api.ok("POST", f"/plans/{plan_id}/expert-assignments", 201, json={"items": [panel]}))["ids"]
    p = f"/plans/{plan_id}"
    d = f"/data-points/{point['id']}"
    return [
        ("GET", "/org-units", "/org-units", {}, READ, {200}),
        (
            "POST",
            "/org-units",
            "/org-units",
            {"json": {"code": "n1", "name": "N", "kind": "county", "parent_id": world.city["id"]}},
            OFFICE,
            hidden_or_forbidden,
        ),
        (
            "POST",
            "/org-units/import",
            "/org-units/import",
            {"json": [{"org_path": "/gd/sz/n2", "name": "N", "kind": "county"}]},
            OFFICE,
            hidden_or_forbidden,
        ),
        ("GET", "/org-units/{unit_id}", f"/org-units/{unit}", {}, READ, missing),
        (
            "PATCH",
            "/org-units/{unit_id}",
            f"/org-units/{unit}",
            {"json": {"name": "F"}, "headers": {"If-Match": '"1"'}},
            OFFICE,
            missing,
        ),
        (
            "DELETE",
            "/org-units/{unit_id}",
            f"/org-units/{world.department['id']}",
            {"headers": {"If-Match": '"1"'}},
            OFFICE,
            missing,
        ),
        (
            "POST",
            "/objects",
            "/objects",
            {"json": {"kind": "official", "org_unit_id": unit, "code": "m", "name": "M"}},
            OFFICE,
            missing,
        ),
        ("GET", "/objects", "/objects", {}, READ, {200}),
        ("GET", "/objects/{object_id}", f"/objects/{ft}", {}, READ, missing),
        ("GET", "/objects/{object_id}/improvements", f"/objects/{ft}/improvements", {}, READ, missing),
        (
            "POST",
            "/cycles",
            "/cycles",
            {
                "json": {
                    "kind": "annual",
                    "label": "2027",
                    "starts_on": "2027-01-01",
                    "ends_on": "2027-12-31",
                    "org_path": "/gd/sz",
                }
            },
            OFFICE,
            {403},
        ),
        ("GET", "/cycles", "/cycles", {}, READ, {200}),
        ("GET", "/cycles/{cycle_id}", f"/cycles/{world.cycle_id}", {}, READ, missing),
        ("GET", "/framework-versions", "/framework-versions", {}, READ, {200}),
        ("GET", "/framework-versions/{framework_id}", f"/framework-versions/{world.framework_id}", {}, READ, {200}),
        (
            "POST",
            "/plans",
            "/plans",
            {"json": api.plan_body(world.city["id"], world.cycle_id, world.framework_id, [])},
            OFFICE,
            hidden_or_forbidden,
        ),
        ("GET", "/plans", "/plans", {}, READ, {200}),
        ("GET", "/plans/{plan_id}", p, {}, READ, missing),
        ("PATCH", "/plans/{plan_id}", p, {"json": {"name": "x"}, "headers": {"If-Match": '"2"'}}, OFFICE, missing),
        (
            "POST",
            "/plans/{plan_id}/transitions",
            f"{p}/transitions",
            {"json": {"to": "collecting"}, "headers": {"If-Match": '"2"'}},
            OFFICE,
            missing,
        ),
        ("GET", "/plans/{plan_id}/objects", f"{p}/objects", {}, READ, missing),
        (
            "POST",
            "/plans/{plan_id}/objections",
            f"{p}/objections",
            {"json": {"object_id": ft, "reason": "The verified count was not used."}},
            {R.department},
            missing,
        ),
        ("GET", "/plans/{plan_id}/objections", f"{p}/objections", {}, OBJECTION_READERS, missing),
        (
            "GET",
            "/plans/{plan_id}/objections/{objection_id}",
            f"{p}/objections/{uuid.uuid4()}",
            {},
            OBJECTION_READERS,
            missing,
        ),
        (
            "POST",
            "/plans/{plan_id}/objections/{objection_id}/ruling",
            f"{p}/objections/{uuid.uuid4()}/ruling",
            {"json": {"decision": "dismissed", "reason": "Verified and used."}, "headers": {"If-Match": '"1"'}},
            OFFICE,
            missing,
        ),
        ("POST", "/plans/{plan_id}/republish", f"{p}/republish", {"headers": {"If-Match": '"2"'}}, OFFICE, missing),
        ("GET", "/plans/{plan_id}/leaves", f"{p}/leaves", {}, READ, missing),
        (
            "POST",
            "/plans/{plan_id}/targets",
            f"{p}/targets",
            {"json": {"object_id": ft, "indicator_code": "E1", "target": "11"}},
            OFFICE,
            missing,
        ),
        (
            "POST",
            "/plans/{plan_id}/targets/bulk",
            f"{p}/targets/bulk",
            {"json": [{"object_id": ft, "indicator_code": "E1", "target": "12"}]},
            OFFICE,
            missing,
        ),
        (
            "POST",
            "/plans/{plan_id}/targets/cascade",
            f"{p}/targets/cascade",
            {
                "json": {
                    "from_object_id": ft,
                    "indicator_code": "E1",
                    "mode": "copy",
                    "children": [{"object_id": world.objects["ns"]}],
                }
            },
            OFFICE,
            missing,
        ),
        (
            "POST",
            "/plans/{plan_id}/targets/confirmations",
            f"{p}/targets/confirmations",
            {"json": {"ids": [target["id"]]}},
            {R.admin, R.department},
            missing,
        ),
        (
            "POST",
            "/plans/{plan_id}/targets/approvals",
            f"{p}/targets/approvals",
            {"json": {"ids": [target["id"]]}},
            OFFICE,
            missing,
        ),
        (
            "PATCH",
            "/plans/{plan_id}/targets/{target_id}",
            f"{p}/targets/{target['id']}",
            {"json": {"target": "9", "reason": "r"}, "headers": {"If-Match": '"1"'}},
            OFFICE,
            missing,
        ),
        ("GET", "/plans/{plan_id}/targets", f"{p}/targets", {}, READ, missing),
        ("GET", "/plans/{plan_id}/collection", f"{p}/collection", {}, READ, missing),
        # Batch reads for the gateway: another county's plan is simply absent from the page.
        ("GET", "/plan-objects", "/plan-objects", {"params": {"plan_ids": plan_id}}, READ, {200}),
        ("GET", "/targets", "/targets", {"params": {"plan_ids": plan_id}}, READ, {200}),
        ("GET", "/collection", "/collection", {"params": {"plan_ids": plan_id}}, READ, {200}),
        ("POST", "/plans/{plan_id}/anomaly-scans", f"{p}/anomaly-scans", {}, OFFICE, missing),
        (
            "POST",
            "/data-points",
            "/data-points",
            {"json": {"object_id": ft, "metric": "E2", "period": "2026", "value": "1"}},
            SUBMIT,
            {422},
        ),
        (
            "POST",
            "/data-points/bulk",
            "/data-points/bulk",
            {"json": [{"object_id": ft, "metric": "E3", "period": "2026", "value": "1"}]},
            SUBMIT,
            {422},
        ),
        ("GET", "/data-points", "/data-points", {}, READ | {R.federation}, {200}),
        ("GET", "/data-points/{point_id}", d, {}, READ | {R.federation}, missing),
        (
            "POST",
            "/data-points/{point_id}/transitions",
            f"{d}/transitions",
            {"json": {"to": "verified"}},
            {R.verifier},
            missing,
        ),
        (
            "POST",
            "/data-points/{point_id}/transitions",
            f"{d}/transitions",
            {"json": {"to": "accepted"}},
            OFFICE,
            missing,
        ),
        (
            "POST",
            "/data-points/{point_id}/transitions",
            f"{d}/transitions",
            {"json": {"to": "rejected", "reason": "r"}},
            OFFICE | {R.verifier},
            missing,
        ),
        ("POST", "/data-points/{point_id}/flags", f"{d}/flags", {"json": {"note": "n"}}, {R.admin, R.audit}, missing),
        (
            "POST",
            "/flags/{flag_id}/resolution",
            f"/flags/{flag['id']}/resolution",
            {"json": {"note": "n"}},
            {R.admin, R.perf_office, R.audit},
            missing,
        ),
        (
            "POST",
            "/evidence",
            "/evidence",
            {"params": {"name": "x.txt"}, "content": b"x", "headers": {"Content-Type": "text/plain"}},
            SUBMIT | {R.federation},
            {201},
        ),
        ("GET", "/evidence/{sha256}", f"/evidence/{evidence['sha256']}", {}, READ | {R.federation}, missing),
        ("GET", "/audit/verification", "/audit/verification", {}, {R.admin, R.audit}, {200}),
        # Experts and veto events: the panel is the office's; ratings are the assigned expert's.
        (
            "POST",
            "/plans/{plan_id}/expert-assignments",
            f"{p}/expert-assignments",
            {"json": {"items": [{**panel, "object_id": ft}]}},
            OFFICE,
            missing,
        ),
        (
            "GET",
            "/plans/{plan_id}/expert-assignments",
            f"{p}/expert-assignments",
            {},
            OFFICE | {R.finance, R.audit, R.supervision, R.legal, R.expert},
            {200, 404},  # an expert elsewhere sees their own assignments: none here
        ),
        (
            "DELETE",
            "/plans/{plan_id}/expert-assignments/{assignment_id}",
            f"{p}/expert-assignments/{assignment}",
            {},
            OFFICE,
            missing,
        ),
        (
            "PUT",
            "/plans/{plan_id}/expert-ratings/{assignment_id}",
            f"{p}/expert-ratings/{assignment}",
            {"json": {"grade": "A"}},
            {R.expert},
            missing,
        ),
        (
            "GET",
            "/plans/{plan_id}/expert-ratings",
            f"{p}/expert-ratings",
            {},
            OFFICE | {R.finance, R.audit, R.supervision, R.legal},
            missing,
        ),
        (
            "POST",
            "/plans/{plan_id}/veto-events",
            f"{p}/veto-events",
            {"json": {"object_id": ft, "code": "major_safety_accident", "description": "d"}},
            OFFICE | {R.supervision, R.audit, R.legal},
            missing,
        ),
        (
            "POST",
            "/plans/{plan_id}/veto-events/{veto_id}/withdraw",
            f"{p}/veto-events/{plan_id}/withdraw",
            {"json": {"reason": "r"}},
            OFFICE | {R.supervision, R.audit, R.legal},
            missing,
        ),
        ("GET", "/plans/{plan_id}/veto-events", f"{p}/veto-events", {}, READ, missing),
        # Scoring runs are the office's; results before publication also the joint-meeting units'
        # and, for their own objects, the departments'.
        ("POST", "/plans/{plan_id}/scoring-runs", f"{p}/scoring-runs", {}, OFFICE, missing),
        ("GET", "/plans/{plan_id}/scoring-runs", f"{p}/scoring-runs", {}, RESULT_READERS, missing),
        (
            "GET",
            "/plans/{plan_id}/scoring-runs/{run_id}",
            f"{p}/scoring-runs/{uuid.uuid4()}",
            {},
            RESULT_READERS,
            missing,
        ),
        ("GET", "/plans/{plan_id}/results", f"{p}/results", {}, RESULT_READERS | {R.department}, missing),
        (
            "GET",
            "/plans/{plan_id}/results/{object_id}",
            f"{p}/results/{ft}",
            {},
            RESULT_READERS | {R.department},
            missing,
        ),
        ("GET", "/plans/{plan_id}/rollup", f"{p}/rollup", {}, READ, missing),
        ("GET", "/plans/{plan_id}/monitoring", f"{p}/monitoring", {}, READ, missing),
    ]


def declared_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in app.openapi()["paths"].items()
        # The shared dead-letter routes are every service's and are tested with shared/messaging.
        if path.startswith("/api/v1") and not path.startswith("/api/v1/dead-letters")
        for method in operations
    }


async def test_every_route_checks_role_and_scope(api: Api, world: World, appraisal_app: FastAPI):
    cases = await scenario(api, world)
    assert {(m, t) for m, t, *_ in cases} == declared_routes(appraisal_app), "the matrix must cover every route"
    failures = []
    for method, template, path, kwargs, allowed, out_of_scope in cases:
        extra_headers = kwargs.get("headers", {})
        rest = {k: v for k, v in kwargs.items() if k != "headers"}
        for role in Role:
            if role in allowed:
                continue
            r = await api.call(method, path, headers={**api.as_(role.value, "/gd/sz"), **extra_headers}, **rest)
            if r.status_code != 403:
                failures.append((method, template, role.value, r.status_code, r.text[:120]))
        insider = sorted(allowed, key=lambda r: r != Role.admin)[-1]  # prefer a non-admin role
        r = await api.call(method, path, headers={**api.as_(insider.value, "/gd/sz"), **extra_headers}, **rest)
        if r.status_code in (401, 403):
            failures.append((method, template, f"allowed {insider.value}", r.status_code, r.text[:120]))
        outsider = api.as_(insider.value, "/gd/gz")
        r = await api.call(method, path, headers={**outsider, **extra_headers}, **rest)
        if r.status_code not in out_of_scope:
            failures.append((method, template, f"out of scope {insider.value}", r.status_code, r.text[:120]))
    assert failures == []
    assert (await api.client.get("/api/v1/plans")).status_code == 401
