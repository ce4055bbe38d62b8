"""Org tree and appraisal object use cases. They flush; the caller commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal_svc.access import OFFICE, READERS, in_subtree, require_role
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.orgunit import logic
from services.appraisal_svc.orgunit.events import ORGUNIT_CHANGED, OrgUnitChanged
from services.appraisal_svc.orgunit.models import AppraisalObject, ObjectKind, OrgUnit, UnitKind
from services.appraisal_svc.orgunit.schemas import ObjectCreate, OrgUnitCreate, OrgUnitImportRow, OrgUnitUpdate
from services.appraisal_svc.tabular import row_errors
from shared.api import check_version
from shared.auth.principal import Principal
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events import make_event
from shared.ids import new_id
from shared.messaging import outbox
from shared.pagination import PageParams, encode_cursor, paginate

SOURCE = "govperf/appraisal"


async def _emit_changed(session: AsyncSession, units: Sequence[OrgUnit | Any]) -> None:
    for unit in units:
        payload = OrgUnitChanged(
            id=unit.id,
            code=unit.code,
            name=unit.name,
            kind=unit.kind,
            parent_id=unit.parent_id,
            org_path=unit.org_path,
            deleted=unit.deleted,
        )
        await outbox.add(session, TABLES, make_event(ORGUNIT_CHANGED, payload, source=SOURCE, subject=str(unit.id)))


# --- org units ----------------------------------------------------------------------------


async def get_unit(
    session: AsyncSession, *, principal: Principal, unit_id: uuid.UUID, for_update: bool = False
) -> OrgUnit:
    require_role(principal, READERS, "read org units")
    stmt = select(OrgUnit).where(OrgUnit.id == unit_id)
    unit = await session.scalar(stmt.with_for_update() if for_update else stmt)
    if unit is None or not principal.in_scope(unit.org_path):
        raise NotFound("No such org unit.")
    return unit


async def list_units(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageParams,
    parent_id: uuid.UUID | None = None,
    under: str | None = None,
    kind: UnitKind | None = None,
    ids: list[uuid.UUID] | None = None,
    include_deleted: bool = False,
    parent_ids: list[uuid.UUID] | None = None,
) -> tuple[list[OrgUnit], str | None]:
    require_role(principal, READERS, "read org units")
    stmt: Select[Any] = select(OrgUnit).where(in_subtree(OrgUnit.org_path, principal.org_path))
    if parent_id is not None:
        stmt = stmt.where(OrgUnit.parent_id == parent_id)
    if parent_ids is not None:
        stmt = stmt.where(OrgUnit.parent_id.in_(parent_ids))
    if under is not None:
        stmt = stmt.where(in_subtree(OrgUnit.org_path, under))
    if kind is not None:
        stmt = stmt.where(OrgUnit.kind == kind)
    if ids is not None:
        stmt = stmt.where(OrgUnit.id.in_(ids))
    if not include_deleted:
        stmt = stmt.where(OrgUnit.deleted.is_(False))
    return await paginate(session, stmt, OrgUnit.id, page)


async def _parent(session: AsyncSession, principal: Principal, parent_id: uuid.UUID | None) -> OrgUnit | None:
    if parent_id is None:
        return None
    parent = await session.scalar(select(OrgUnit).where(OrgUnit.id == parent_id, OrgUnit.deleted.is_(False)))
    if parent is None or not principal.in_scope(parent.org_path):
        raise Unprocessable(
            "The parent org unit does not exist.", errors=[{"field": "parent_id", "message": "unknown"}]
        )
    return parent


def _check_place(kind: UnitKind, parent: OrgUnit | None) -> None:
    problem = logic.parent_problem(kind, UnitKind(parent.kind) if parent else None)
    if problem:
        raise Unprocessable(
            f"The unit cannot go there: {problem}.", errors=[{"field": "parent_id", "message": problem}]
        )


async def create_unit(session: AsyncSession, *, principal: Principal, data: OrgUnitCreate) -> OrgUnit:
    require_role(principal, OFFICE, "create org units")
    parent = await _parent(session, principal, data.parent_id)
    _check_place(data.kind, parent)
    path = logic.child_path(parent.org_path if parent else None, data.code)
    if not principal.in_scope(path):
        raise Forbidden("The new unit would be outside your scope.")
    unit = OrgUnit(
        id=new_id(),
        code=data.code,
        name=data.name,
        kind=data.kind,
        parent_id=parent.id if parent else None,
        org_path=path,
        peer_group=data.peer_group or logic.default_peer_group(data.kind),
        deleted=False,
        lock_version=1,
    )
    session.add(unit)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"An org unit with path {path} already exists.") from None
    await _emit_changed(session, [unit])
    return unit


async def update_unit(
    session: AsyncSession,
    *,
    principal: Principal,
    unit_id: uuid.UUID,
    data: OrgUnitUpdate,
    expected_version: int | None,
) -> OrgUnit:
    require_role(principal, OFFICE, "change org units")
    unit = await get_unit(session, principal=principal, unit_id=unit_id, for_update=True)
    check_version(unit.lock_version, expected_version)
    if unit.deleted:
        raise Conflict("The org unit is deleted.")
    fields = data.model_fields_set
    old_path = unit.org_path
    parent_id = data.parent_id if "parent_id" in fields else unit.parent_id
    code = data.code if data.code is not None else unit.code
    if "parent_id" in fields:
        parent = await _parent(session, principal, parent_id)
        if parent is not None and (parent.org_path == old_path or parent.org_path.startswith(old_path + "/")):
            raise Unprocessable("A unit cannot move under itself.", errors=[{"field": "parent_id", "message": "cycle"}])
        _check_place(UnitKind(unit.kind), parent)
        parent_path = parent.org_path if parent else None
    else:
        parent_path = logic.parent_path_of(old_path)
    new_path = logic.child_path(parent_path, code)
    if not principal.in_scope(new_path):
        raise Forbidden("The unit would move outside your scope.")
    if data.name is not None:
        unit.name = data.name
    if data.peer_group is not None:
        unit.peer_group = data.peer_group
    unit.parent_id, unit.code = parent_id, code
    unit.lock_version += 1
    await session.flush()
    moved: list[Any] = [unit]
    if new_path != old_path:
        # One statement rewrites the unit's and every descendant's path.
        try:
            async with session.begin_nested():
                moved = list(
                    (
                        await session.execute(
                            update(OrgUnit)
                            .where(in_subtree(OrgUnit.org_path, old_path))
                            .values(org_path=new_path + func.substr(OrgUnit.org_path, len(old_path) + 1))
                            .returning(OrgUnit)
                            .execution_options(synchronize_session=False)
                        )
                    ).scalars()
                )
        except IntegrityError:
            raise Conflict(f"An org unit with path {new_path} already exists.") from None
        await session.refresh(unit)
    await _emit_changed(session, moved)
    return unit


async def delete_unit(
    session: AsyncSession, *, principal: Principal, unit_id: uuid.UUID, expected_version: int | None
) -> None:
    require_role(principal, OFFICE, "delete org units")
    unit = await get_unit(session, principal=principal, unit_id=unit_id, for_update=True)
    check_version(unit.lock_version, expected_version)
    children = await session.scalar(
        select(func.count()).select_from(OrgUnit).where(OrgUnit.parent_id == unit.id, OrgUnit.deleted.is_(False))
    )
    if children:
        raise Conflict(f"The unit still has {children} sub-unit(s); delete or move them first.")
    unit.deleted = True
    unit.lock_version += 1
    await session.flush()
    await _emit_changed(session, [unit])


async def import_units(
    session: AsyncSession, *, principal: Principal, rows: list[OrgUnitImportRow], first_row: int
) -> list[OrgUnit]:
    """All or nothing: parents come from the database or earlier in the same file (any order)."""
    require_role(principal, OFFICE, "import org units")
    errors: list[dict[str, Any]] = []
    by_path: dict[str, tuple[int, OrgUnitImportRow]] = {}
    for number, row in enumerate(rows, start=first_row):
        if row.org_path in by_path:
            errors.append({"row": number, "field": "org_path", "message": "repeated in the file"})
        elif not principal.in_scope(row.org_path):
            errors.append({"row": number, "field": "org_path", "message": "outside your scope"})
        by_path[row.org_path] = (number, row)
    parent_paths = {p for p in (logic.parent_path_of(path) for path in by_path) if p and p not in by_path}
    existing = {
        u.org_path: u
        for u in (
            await session.scalars(
                select(OrgUnit).where(OrgUnit.org_path.in_(set(by_path) | parent_paths), OrgUnit.deleted.is_(False))
            )
        ).all()
    }
    created: dict[str, OrgUnit] = {}
    for path in sorted(by_path, key=lambda p: p.count("/")):
        number, row = by_path[path]
        if path in existing:
            errors.append({"row": number, "field": "org_path", "message": "already exists"})
            continue
        parent_path = logic.parent_path_of(path)
        parent = created.get(parent_path or "") or existing.get(parent_path or "")
        if parent_path is not None and parent is None:
            errors.append({"row": number, "field": "org_path", "message": f"parent {parent_path} does not exist"})
            continue
        problem = logic.parent_problem(row.kind, UnitKind(parent.kind) if parent else None)
        if problem:
            errors.append({"row": number, "field": "kind", "message": problem})
            continue
        created[path] = OrgUnit(
            id=new_id(),
            code=path.rsplit("/", 1)[1],
            name=row.name,
            kind=row.kind,
            parent_id=parent.id if parent else None,
            org_path=path,
            peer_group=row.peer_group or logic.default_peer_group(row.kind),
            deleted=False,
            lock_version=1,
        )
    if errors:
        raise row_errors(sorted(errors, key=lambda e: e["row"]))
    columns = ("id", "code", "name", "kind", "parent_id", "org_path", "peer_group", "deleted", "lock_version")
    values = [{c: getattr(u, c) for c in columns} for u in created.values()]
    if not values:
        return []
    units = list((await session.scalars(insert(OrgUnit).returning(OrgUnit), values)).all())
    await _emit_changed(session, units)
    return units


# --- appraisal objects --------------------------------------------------------------------


def _object_query() -> Select[AppraisalObject, str]:
    return select(AppraisalObject, OrgUnit.org_path).join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)


def object_view(obj: AppraisalObject, org_path: str) -> dict[str, Any]:
    return {
        "id": obj.id,
        "kind": obj.kind,
        "org_unit_id": obj.org_unit_id,
        "org_path": org_path,
        "code": obj.code,
        "name": obj.name,
        "peer_group": obj.peer_group,
        "lock_version": obj.lock_version,
        "created_at": obj.created_at,
    }


async def create_object(session: AsyncSession, *, principal: Principal, data: ObjectCreate) -> dict[str, Any]:
    require_role(principal, OFFICE, "create appraisal objects")
    unit = await get_unit(session, principal=principal, unit_id=data.org_unit_id)
    if unit.deleted:
        raise Unprocessable("The org unit is deleted.", errors=[{"field": "org_unit_id", "message": "deleted"}])
    if not logic.object_kind_fits_unit(data.kind, UnitKind(unit.kind)):
        raise Unprocessable(
            f"A {data.kind} object cannot stand for a {unit.kind} unit.",
            errors=[{"field": "kind", "message": "mismatch"}],
        )
    whole_unit = data.kind in (ObjectKind.government, ObjectKind.department)
    if not whole_unit and (data.code is None or data.name is None):
        raise Unprocessable(
            "Officials, projects and policies need a code and a name.",
            errors=[{"field": f, "message": "required"} for f in ("code", "name") if getattr(data, f) is None],
        )
    obj = AppraisalObject(
        # A unit appraised as a whole keeps the unit's id: one id space for every object.
        id=unit.id if whole_unit else new_id(),
        kind=data.kind,
        org_unit_id=unit.id,
        code=data.code or unit.code,
        name=data.name or unit.name,
        peer_group=data.peer_group or (unit.peer_group if whole_unit else logic.default_peer_group(data.kind)),
        created_by=principal.subject,
        lock_version=1,
    )
    session.add(obj)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("This object already exists (same unit, kind and code).") from None
    return object_view(obj, unit.org_path)


async def get_object(session: AsyncSession, *, principal: Principal, object_id: uuid.UUID) -> dict[str, Any]:
    require_role(principal, READERS, "read appraisal objects")
    row = (await session.execute(_object_query().where(AppraisalObject.id == object_id))).first()
    if row is None or not principal.in_scope(row.org_path):
        raise NotFound("No such appraisal object.")
    return object_view(row[0], row.org_path)


async def list_objects(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageParams,
    org_unit_id: uuid.UUID | None = None,
    kind: ObjectKind | None = None,
    ids: list[uuid.UUID] | None = None,
    org_unit_ids: list[uuid.UUID] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    require_role(principal, READERS, "read appraisal objects")
    stmt = select(AppraisalObject.id).join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
    stmt = stmt.where(in_subtree(OrgUnit.org_path, principal.org_path))
    if org_unit_id is not None:
        stmt = stmt.where(AppraisalObject.org_unit_id == org_unit_id)
    if org_unit_ids is not None:
        stmt = stmt.where(AppraisalObject.org_unit_id.in_(org_unit_ids))
    if kind is not None:
        stmt = stmt.where(AppraisalObject.kind == kind)
    if ids is not None:
        stmt = stmt.where(AppraisalObject.id.in_(ids))
    if page.cursor is not None:
        stmt = stmt.where(AppraisalObject.id > page.cursor)
    found = list((await session.scalars(stmt.order_by(AppraisalObject.id).limit(page.limit + 1))).all())
    more = len(found) > page.limit
    found = found[: page.limit]
    rows = (
        await session.execute(_object_query().where(AppraisalObject.id.in_(found)).order_by(AppraisalObject.id))
    ).all()
    return [object_view(r[0], r.org_path) for r in rows], encode_cursor(found[-1]) if more and found else None
