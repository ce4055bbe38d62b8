"""The session-free read path (GET by id, list) answers exactly what the ORM path answers, with the
same scope rules, and the in-process cache of published versions never outlives a retirement."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicator_svc.framework import service
from services.indicator_svc.framework.models import FrameworkStatus
from services.indicator_svc.framework.schemas import FrameworkRead
from shared.auth.deps import principal_from_claims
from shared.pagination import PageParams
from tests.indicator_svc.api.support import BASE, SZ, Api, assert_problem


async def test_retiring_drops_the_cached_published_version_at_once(api: Api) -> None:
    framework = await api.published((await api.create_small())["id"])
    assert (await api.get(framework["id"]))["status"] == "published"  # now cached in process
    etag = {"If-Match": f'"{framework["lock_version"]}"'}
    r = await api.client.post(f"{BASE}/{framework['id']}/retire", headers=api.office | etag)
    assert r.status_code == 200, r.text
    after = await api.client.get(f"{BASE}/{framework['id']}", headers=api.office)
    assert after.json()["status"] == "retired" and after.json()["retired_at"] is not None
    assert after.headers["etag"] == f'"{after.json()["lock_version"]}"' != f'"{framework["lock_version"]}"'


async def test_a_cached_published_version_is_still_scope_and_auth_checked(api: Api, auth) -> None:
    framework = await api.published((await api.create_small())["id"])
    await api.get(framework["id"])  # cached
    anonymous = await api.client.get(f"{BASE}/{framework['id']}")
    assert_problem(anonymous, 401)
    other_county = auth("department", org_path="/gd/gz", subject="dept-gz")
    assert (await api.get(framework["id"], headers=other_county))["id"] == framework["id"]  # published: readable


async def test_like_wildcards_in_a_scope_do_not_widen_it(api: Api, auth) -> None:
    """ "_" is legal in org paths and a LIKE wildcard: /gd/s_ must not see drafts of /gd/sz."""
    draft = await api.create(org_path=f"{SZ}/futian")
    lookalike = auth("perf_office", org_path="/gd/s_", subject="office-s_")
    assert_problem(await api.client.get(f"{BASE}/{draft['id']}", headers=lookalike), 404)
    assert draft["id"] not in await api.list_ids(headers=lookalike)
    assert draft["id"] not in await api.list_ids(headers=api.office, org_path="/gd/s_")
    assert draft["id"] in await api.list_ids(headers=api.office, org_path=SZ)


FILTERS: list[dict[str, Any]] = [
    {},
    {"status": "draft"},
    {"status": "published"},
    {"org_path": SZ},
    {"org_path": "/gd"},
    {"code": "READPATH-A"},
    {"code": "READPATH-P", "status": "published"},
    {"status": "draft", "org_path": f"{SZ}/ft", "code": "READPATH-B"},
]
CALLERS = [("perf_office", SZ), ("perf_office", f"{SZ}/ft"), ("audit", "/gd"), ("admin", "/"), ("department", "/gd/gz")]


@pytest.mark.parametrize(("role", "scope"), CALLERS)
async def test_list_answers_what_the_orm_path_answers(api: Api, auth, db: AsyncSession, role: str, scope: str) -> None:
    await api.create(code="READPATH-A")
    await api.create(code="READPATH-B", org_path=f"{SZ}/ft")
    await api.published((await api.create_small(code="READPATH-P"))["id"])
    await api.create(org_path="/gd/gz", headers=auth("admin", org_path="/", subject="admin-readpath"))
    caller = auth(role, org_path=scope, subject=f"{role}-{uuid.uuid4().hex[:6]}")
    principal = principal_from_claims({"sub": "x", "roles": [role], "org_id": str(uuid.uuid4()), "org_path": scope})
    for filters in FILTERS:
        via_api = await api.list_ids(headers=caller, **filters)
        status = FrameworkStatus(filters["status"]) if "status" in filters else None
        wanted = service.FrameworkFilters(status=status, code=filters.get("code"), org_path=filters.get("org_path"))
        rows, _ = await service.list_frameworks(
            db, principal=principal, filters=wanted, page=PageParams(limit=500, cursor=None)
        )
        assert via_api == [str(f.id) for f in rows], filters
    # Paging through the read path visits each readable framework once, in id order.
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get(BASE, params=params, headers=caller)).json()
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == await api.list_ids(headers=caller)


async def test_get_by_id_answers_what_the_orm_read_answers(api: Api, db: AsyncSession) -> None:
    draft = await api.create_small()
    via_api = await api.get(draft["id"])
    orm = await service.get_framework(
        db,
        principal=principal_from_claims(
            {"sub": "x", "roles": ["perf_office"], "org_id": str(uuid.uuid4()), "org_path": SZ}
        ),
        framework_id=uuid.UUID(draft["id"]),
    )
    assert via_api == FrameworkRead.model_validate(orm).model_dump(mode="json")
