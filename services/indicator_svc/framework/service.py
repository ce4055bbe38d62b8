"""Framework use cases. They take a session and flush; the caller commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, any_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicator_svc.db import TABLES
from services.indicator_svc.framework import logic
from services.indicator_svc.framework.content import MAX_INDICATORS, BalancePolicy, FrameworkContent, IndicatorSpec
from services.indicator_svc.framework.events import FRAMEWORK_PUBLISHED, FrameworkPublished
from services.indicator_svc.framework.models import Framework, FrameworkStatus, Indicator
from services.indicator_svc.framework.schemas import FrameworkCreate, FrameworkDerive, FrameworkRead, FrameworkUpdate
from shared.api import check_version
from shared.auth.principal import Principal, Role
from shared.cache import ImmutableCache
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events import make_event
from shared.ids import new_id
from shared.messaging import outbox
from shared.pagination import PageParams, next_page, paginate
from shared.reads import Reader, ReadStatement

WRITERS = frozenset({Role.perf_office, Role.admin})
SOURCE = "govperf/indicator"
INDICATOR_FIELDS = tuple(IndicatorSpec.model_fields)


# --- access ------------------------------------------------------------------------------


def can_read(principal: Principal, framework: Framework | FrameworkRead) -> bool:
    """Published and retired versions are readable by everyone signed in; drafts only in scope."""
    return framework.status != FrameworkStatus.draft or principal.in_scope(framework.org_path)


def check_can_write_in(principal: Principal, org_path: str) -> None:
    if not principal.has_any(WRITERS):
        raise Forbidden("Only the performance office or an admin may change frameworks.")
    if not principal.in_scope(org_path):
        raise Forbidden("The framework's org unit is outside your scope.")


def in_subtree(org_path: str) -> Any:
    """SQL twin of ``path_within``: the org path or anything below it (uses the text_pattern_ops index)."""
    if org_path == "/":
        return Framework.org_path.startswith("/")
    # autoescape: "_" is legal in org paths and must not act as a LIKE wildcard.
    return (Framework.org_path == org_path) | Framework.org_path.startswith(org_path + "/", autoescape=True)


def visible_to(principal: Principal) -> Any:
    return or_(Framework.status != FrameworkStatus.draft, in_subtree(principal.org_path))


# --- reading -----------------------------------------------------------------------------


async def get_framework(
    session: AsyncSession, *, principal: Principal, framework_id: uuid.UUID, for_update: bool = False
) -> Framework:
    stmt = select(Framework).where(Framework.id == framework_id)
    if for_update:
        stmt = stmt.with_for_update()
    framework = await session.scalar(stmt)
    # A draft outside the caller's scope is reported as missing, not as forbidden: no probing.
    if framework is None or not can_read(principal, framework):
        raise NotFound("No such framework.")
    return framework


async def get_writable_draft(
    session: AsyncSession, *, principal: Principal, framework_id: uuid.UUID, expected_version: int | None
) -> Framework:
    framework = await get_framework(session, principal=principal, framework_id=framework_id, for_update=True)
    check_can_write_in(principal, framework.org_path)
    if framework.status != FrameworkStatus.draft:
        raise Conflict(
            f"Framework is {framework.status}; published content never changes. Create a new version instead."
        )
    check_version(framework.lock_version, expected_version)
    return framework


@dataclass(frozen=True)
class FrameworkFilters:
    status: FrameworkStatus | None = None
    code: str | None = None
    org_path: str | None = None
    lineage_id: uuid.UUID | None = None
    ids: list[uuid.UUID] | None = None


async def list_frameworks(
    session: AsyncSession, *, principal: Principal, filters: FrameworkFilters, page: PageParams
) -> tuple[list[Framework], str | None]:
    stmt: Select[Any] = select(Framework).where(visible_to(principal))
    if filters.status is not None:
        stmt = stmt.where(Framework.status == filters.status)
    if filters.code is not None:
        stmt = stmt.where(Framework.code == filters.code)
    if filters.lineage_id is not None:
        stmt = stmt.where(Framework.lineage_id == filters.lineage_id)
    if filters.org_path is not None:
        stmt = stmt.where(in_subtree(filters.org_path))
    if filters.ids is not None:
        stmt = stmt.where(Framework.id.in_(filters.ids))
    return await paginate(session, stmt, Framework.id, page)


# --- reading without a unit of work (shared.reads): the hot GETs, same checks as above ----------

_FRAMEWORK = Framework.__table__
_READ_COLUMNS = [_FRAMEWORK.c[name] for name in FrameworkRead.model_fields]
FRAMEWORK_BY_ID = ReadStatement(select(*_READ_COLUMNS).where(_FRAMEWORK.c.id == bindparam("id")))


def like_prefix(org_path: str) -> str:
    """LIKE pattern for everything strictly below ``org_path`` ("_" and "%" are legal, so escaped)."""
    if org_path == "/":
        return "%"
    return org_path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


def _subtree(prefix: str) -> Any:
    return (_FRAMEWORK.c.org_path == bindparam(f"{prefix}_path")) | _FRAMEWORK.c.org_path.like(
        bindparam(f"{prefix}_like"), escape="\\"
    )


@lru_cache(maxsize=64)
def _list_statement(status: bool, code: bool, org_path: bool, lineage: bool, ids: bool, cursor: bool) -> ReadStatement:
    """One compiled statement per combination of filters (at most 64, each compiled once)."""
    stmt = select(*_READ_COLUMNS).where(or_(_FRAMEWORK.c.status != FrameworkStatus.draft, _subtree("scope")))
    if status:
        stmt = stmt.where(_FRAMEWORK.c.status == bindparam("status"))
    if code:
        stmt = stmt.where(_FRAMEWORK.c.code == bindparam("code"))
    if org_path:
        stmt = stmt.where(_subtree("filter"))
    if lineage:
        stmt = stmt.where(_FRAMEWORK.c.lineage_id == bindparam("lineage_id"))
    if ids:
        stmt = stmt.where(_FRAMEWORK.c.id == any_(bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
    if cursor:
        stmt = stmt.where(_FRAMEWORK.c.id > bindparam("cursor"))
    return ReadStatement(stmt.order_by(_FRAMEWORK.c.id).limit(bindparam("limit")))


async def read_framework(
    reader: Reader,
    *,
    principal: Principal,
    framework_id: uuid.UUID,
    published: ImmutableCache[FrameworkRead] | None = None,
) -> FrameworkRead:
    """``get_framework`` without a session; published versions come from ``published`` when cached."""
    framework = published.get(framework_id) if published is not None else None
    if framework is None:
        seen = published.version() if published is not None else 0
        row = await reader.one(FRAMEWORK_BY_ID, id=framework_id)
        framework = FrameworkRead.model_validate(dict(row)) if row is not None else None
        if framework is not None and framework.status == FrameworkStatus.published and published is not None:
            published.put(framework_id, framework, seen=seen)
    if framework is None or not can_read(principal, framework):
        raise NotFound("No such framework.")
    return framework


async def read_frameworks(
    reader: Reader, *, principal: Principal, filters: FrameworkFilters, page: PageParams
) -> tuple[list[FrameworkRead], str | None]:
    """``list_frameworks`` without a session: one prepared statement, rows straight into pydantic."""
    statement = _list_statement(
        filters.status is not None,
        filters.code is not None,
        filters.org_path is not None,
        filters.lineage_id is not None,
        filters.ids is not None,
        page.cursor is not None,
    )
    params: dict[str, Any] = {
        "scope_path": principal.org_path,
        "scope_like": like_prefix(principal.org_path),
        "limit": page.limit + 1,
    }
    if filters.status is not None:
        params["status"] = str(filters.status)
    if filters.code is not None:
        params["code"] = filters.code
    if filters.org_path is not None:
        params |= {"filter_path": filters.org_path, "filter_like": like_prefix(filters.org_path)}
    if filters.lineage_id is not None:
        params["lineage_id"] = filters.lineage_id
    if filters.ids is not None:
        params["ids"] = filters.ids
    if page.cursor is not None:
        params["cursor"] = page.cursor
    rows = [FrameworkRead.model_validate(dict(row)) for row in await reader.all(statement, **params)]
    return next_page(rows, page, lambda f: f.id)


async def list_indicators(session: AsyncSession, *, framework_ids: Sequence[uuid.UUID]) -> list[Indicator]:
    rows = await session.scalars(
        select(Indicator)
        .where(Indicator.framework_id.in_(framework_ids))
        .order_by(Indicator.framework_id, Indicator.position)
    )
    return list(rows.all())


async def indicators_of_readable(
    session: AsyncSession, *, principal: Principal, framework_ids: Sequence[uuid.UUID]
) -> list[Indicator]:
    """Indicators of the frameworks the caller may read (batch endpoint for DataLoaders)."""
    readable = await session.scalars(select(Framework.id).where(Framework.id.in_(framework_ids), visible_to(principal)))
    return await list_indicators(session, framework_ids=list(readable.all()))


def spec_of(indicator: Indicator) -> IndicatorSpec:
    return IndicatorSpec.model_validate({f: getattr(indicator, f) for f in INDICATOR_FIELDS})


async def content_of(session: AsyncSession, framework: Framework) -> FrameworkContent:
    """The frozen snapshot of a published version, or the draft's current rows."""
    if framework.snapshot is not None:
        return FrameworkContent.model_validate(framework.snapshot)
    indicators = await list_indicators(session, framework_ids=[framework.id])
    return FrameworkContent(
        code=framework.code,
        name=framework.name,
        description=framework.description,
        total_points=framework.total_points,
        policy=BalancePolicy.model_validate(framework.policy),
        indicators=[spec_of(i) for i in indicators],
    )


# --- writing drafts ----------------------------------------------------------------------


def _indicator_rows(framework_id: uuid.UUID, specs: Sequence[IndicatorSpec]) -> list[dict[str, Any]]:
    return [
        {
            "id": new_id(),
            "framework_id": framework_id,
            "position": position,
            **spec.model_dump(mode="python", include=set(INDICATOR_FIELDS) - {"scoring"}),
            "scoring": spec.scoring.model_dump(mode="json") if spec.scoring else None,
        }
        for position, spec in enumerate(specs)
    ]


async def _write_indicators(session: AsyncSession, framework_id: uuid.UUID, specs: Sequence[IndicatorSpec]) -> None:
    await session.execute(delete(Indicator).where(Indicator.framework_id == framework_id))
    if specs:
        # executemany batches into multi-row INSERTs, far below asyncpg's bind-parameter cap.
        await session.execute(insert(Indicator), _indicator_rows(framework_id, specs))


def _touch(framework: Framework) -> None:
    framework.lock_version += 1
    framework.updated_at = utcnow()


async def _insert_framework(session: AsyncSession, framework: Framework, specs: Sequence[IndicatorSpec]) -> Framework:
    session.add(framework)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            "A framework with this code and version already exists in this org unit, "
            "or this lineage already has an open draft."
        ) from None
    await _write_indicators(session, framework.id, specs)
    return framework


def _new_draft(principal: Principal, **fields: Any) -> Framework:
    return Framework(id=new_id(), status=FrameworkStatus.draft, created_by=principal.subject, lock_version=1, **fields)


async def create_framework(
    session: AsyncSession, *, principal: Principal, data: FrameworkCreate, indicators: Sequence[IndicatorSpec] = ()
) -> Framework:
    check_can_write_in(principal, data.org_path)
    framework = _new_draft(
        principal,
        lineage_id=new_id(),
        version=1,
        code=data.code,
        name=data.name,
        description=data.description,
        org_unit_id=data.org_unit_id,
        org_path=data.org_path,
        total_points=data.total_points,
        policy=data.policy.model_dump(mode="json"),
    )
    return await _insert_framework(session, framework, indicators)


def _check_unique_codes(specs: Sequence[IndicatorSpec]) -> None:
    """An imported file may repeat a code; the indicator table cannot hold that (422, not a 500)."""
    seen: set[str] = set()
    errors = []
    for index, spec in enumerate(specs):
        if spec.code in seen:
            errors.append({"field": f"indicators[{index}].code", "message": f"code {spec.code!r} is repeated"})
        seen.add(spec.code)
    if errors:
        raise Unprocessable(f"{len(errors)} indicator code(s) are repeated.", errors=errors)


async def import_framework(
    session: AsyncSession, *, principal: Principal, content: FrameworkContent, org_unit_id: uuid.UUID, org_path: str
) -> Framework:
    _check_unique_codes(content.indicators)
    data = FrameworkCreate(
        code=content.code,
        name=content.name,
        description=content.description,
        org_unit_id=org_unit_id,
        org_path=org_path,
        total_points=content.total_points,
        policy=content.policy,
    )
    return await create_framework(session, principal=principal, data=data, indicators=content.indicators)


async def update_framework(
    session: AsyncSession,
    *,
    principal: Principal,
    framework_id: uuid.UUID,
    data: FrameworkUpdate,
    expected_version: int | None,
) -> Framework:
    framework = await get_writable_draft(
        session, principal=principal, framework_id=framework_id, expected_version=expected_version
    )
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    for field, value in changes.items():
        if field == "policy":
            value = data.policy.model_dump(mode="json") if data.policy else framework.policy
        if value is None and field in {"name", "total_points"}:
            continue
        setattr(framework, field, value)
    _touch(framework)
    await session.flush()
    return framework


async def delete_framework(
    session: AsyncSession, *, principal: Principal, framework_id: uuid.UUID, expected_version: int | None
) -> None:
    framework = await get_writable_draft(
        session, principal=principal, framework_id=framework_id, expected_version=expected_version
    )
    await session.delete(framework)
    await session.flush()


async def replace_content(
    session: AsyncSession,
    *,
    principal: Principal,
    framework_id: uuid.UUID,
    indicators: Sequence[IndicatorSpec],
    expected_version: int | None,
) -> Framework:
    framework = await get_writable_draft(
        session, principal=principal, framework_id=framework_id, expected_version=expected_version
    )
    await _write_indicators(session, framework.id, indicators)
    _touch(framework)
    await session.flush()
    return framework


async def add_indicator(
    session: AsyncSession,
    *,
    principal: Principal,
    framework_id: uuid.UUID,
    spec: IndicatorSpec,
    expected_version: int | None,
) -> Indicator:
    framework = await get_writable_draft(
        session, principal=principal, framework_id=framework_id, expected_version=expected_version
    )
    current = await list_indicators(session, framework_ids=[framework.id])
    if any(i.code == spec.code for i in current):
        raise Conflict(f"Indicator {spec.code} already exists in this framework.")
    if spec.parent_code is not None and not any(i.code == spec.parent_code for i in current):
        raise Unprocessable(
            f"Parent indicator {spec.parent_code} does not exist.",
            errors=[{"field": "parent_code", "message": "unknown indicator code"}],
        )
    if len(current) >= MAX_INDICATORS:
        raise Unprocessable(f"A framework holds at most {MAX_INDICATORS} indicators.")
    # After deletions positions have gaps: append after the last one, never onto a used one.
    row = _indicator_rows(framework.id, [spec])[0] | {"position": max((i.position for i in current), default=-1) + 1}
    indicator = Indicator(**row)
    session.add(indicator)
    _touch(framework)
    await session.flush()
    return indicator


async def _indicator_by_code(session: AsyncSession, framework_id: uuid.UUID, code: str) -> Indicator:
    indicator = await session.scalar(
        select(Indicator).where(Indicator.framework_id == framework_id, Indicator.code == code)
    )
    if indicator is None:
        raise NotFound(f"No indicator {code} in this framework.")
    return indicator


async def replace_indicator(
    session: AsyncSession,
    *,
    principal: Principal,
    framework_id: uuid.UUID,
    code: str,
    spec: IndicatorSpec,
    expected_version: int | None,
) -> Indicator:
    framework = await get_writable_draft(
        session, principal=principal, framework_id=framework_id, expected_version=expected_version
    )
    indicator = await _indicator_by_code(session, framework.id, code)
    if spec.parent_code is not None:
        others = set(
            await session.scalars(
                select(Indicator.code).where(Indicator.framework_id == framework.id, Indicator.code != code)
            )
        )
        if spec.parent_code not in others:
            raise Unprocessable(
                f"Parent indicator {spec.parent_code} does not exist.",
                errors=[{"field": "parent_code", "message": "unknown indicator code"}],
            )
    if spec.code != code:
        clash = await session.scalar(
            select(func.count()).where(Indicator.framework_id == framework.id, Indicator.code == spec.code)
        )
        if clash:
            raise Conflict(f"Indicator {spec.code} already exists in this framework.")
        # A renamed indicator keeps its children.
        await session.execute(
            update(Indicator)
            .where(Indicator.framework_id == framework.id, Indicator.parent_code == code)
            .values(parent_code=spec.code)
        )
    row = _indicator_rows(framework.id, [spec])[0]
    for field in INDICATOR_FIELDS:
        setattr(indicator, field, row[field])
    _touch(framework)
    await session.flush()
    return indicator


async def delete_indicator(
    session: AsyncSession,
    *,
    principal: Principal,
    framework_id: uuid.UUID,
    code: str,
    cascade: bool,
    expected_version: int | None,
) -> None:
    framework = await get_writable_draft(
        session, principal=principal, framework_id=framework_id, expected_version=expected_version
    )
    await _indicator_by_code(session, framework.id, code)
    content = await content_of(session, framework)
    children: dict[str | None, list[str]] = {}
    for spec in content.indicators:
        children.setdefault(spec.parent_code, []).append(spec.code)
    doomed, frontier = {code}, [code]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in doomed:
                doomed.add(child)
                frontier.append(child)
    if len(doomed) > 1 and not cascade:
        raise Conflict(f"Indicator {code} has sub-indicators; delete them first or pass cascade=true.")
    await session.execute(delete(Indicator).where(Indicator.framework_id == framework.id, Indicator.code.in_(doomed)))
    _touch(framework)
    await session.flush()


# --- reports -----------------------------------------------------------------------------


async def validation_report(
    session: AsyncSession, *, principal: Principal, framework_id: uuid.UUID
) -> list[logic.FrameworkProblem]:
    framework = await get_framework(session, principal=principal, framework_id=framework_id)
    return logic.validate(await content_of(session, framework))


async def balance_report(
    session: AsyncSession, *, principal: Principal, framework_id: uuid.UUID
) -> logic.BalanceReport:
    framework = await get_framework(session, principal=principal, framework_id=framework_id)
    return logic.balance(await content_of(session, framework))


async def diff_frameworks(
    session: AsyncSession, *, principal: Principal, framework_id: uuid.UUID, against_id: uuid.UUID | None
) -> tuple[Framework, logic.FrameworkDiff]:
    """Diff from ``against`` (default: the template it derives from, else its previous version)."""
    framework = await get_framework(session, principal=principal, framework_id=framework_id)
    base_id = against_id or framework.derived_from_id or framework.previous_version_id
    if base_id is None:
        raise Unprocessable(
            "This framework has no parent; name one with ?against=.",
            errors=[{"field": "against", "message": "required for a framework without parent"}],
        )
    base = await get_framework(session, principal=principal, framework_id=base_id)
    return base, logic.diff(await content_of(session, base), await content_of(session, framework))


# --- lifecycle ---------------------------------------------------------------------------


async def publish(
    session: AsyncSession,
    *,
    principal: Principal,
    framework_id: uuid.UUID,
    override_reason: str | None,
    expected_version: int | None,
) -> Framework:
    framework = await get_writable_draft(
        session, principal=principal, framework_id=framework_id, expected_version=expected_version
    )
    content = await content_of(session, framework)
    problems = logic.validate(content)
    if problems:
        raise Unprocessable(
            f"The framework has {len(problems)} problem(s); fix them before publishing.",
            errors=[p.model_dump(mode="json") for p in problems],
        )
    report = logic.balance(content)
    if not report.passed and override_reason is None:
        failed = [c for c in report.checks if not c.passed]
        raise Unprocessable(
            "The framework breaks the balance policy; publish with an override_reason to record why.",
            errors=[c.model_dump(mode="json") for c in failed],
        )
    now = utcnow()
    framework.snapshot = content.model_dump(mode="json")
    framework.content_hash = logic.content_hash(content)
    framework.status = FrameworkStatus.published
    framework.published_at, framework.published_by = now, principal.subject
    framework.override_reason = override_reason if not report.passed else None
    _touch(framework)
    payload = FrameworkPublished(
        framework_id=framework.id,
        lineage_id=framework.lineage_id,
        version=framework.version,
        org_unit_id=framework.org_unit_id,
        org_path=framework.org_path,
        derived_from_id=framework.derived_from_id,
        previous_version_id=framework.previous_version_id,
        content_hash=framework.content_hash,
        published_at=now,
        published_by=principal.subject,
        override_reason=framework.override_reason,
        content=content,
    )
    await outbox.add(
        session, TABLES, make_event(FRAMEWORK_PUBLISHED, payload, source=SOURCE, subject=str(framework.id))
    )
    await session.flush()
    return framework


async def retire(
    session: AsyncSession, *, principal: Principal, framework_id: uuid.UUID, expected_version: int | None
) -> Framework:
    framework = await get_framework(session, principal=principal, framework_id=framework_id, for_update=True)
    check_can_write_in(principal, framework.org_path)
    if framework.status != FrameworkStatus.published:
        raise Conflict("Only a published framework can be retired.")
    check_version(framework.lock_version, expected_version)
    framework.status, framework.retired_at = FrameworkStatus.retired, utcnow()
    _touch(framework)
    await session.flush()
    return framework


async def _published_source(session: AsyncSession, principal: Principal, framework_id: uuid.UUID) -> Framework:
    source = await get_framework(session, principal=principal, framework_id=framework_id)
    if source.status != FrameworkStatus.published:
        raise Conflict("Only a published framework can be derived from or versioned.")
    return source


async def derive(
    session: AsyncSession, *, principal: Principal, template_id: uuid.UUID, data: FrameworkDerive
) -> Framework:
    template = await _published_source(session, principal, template_id)
    check_can_write_in(principal, data.org_path)
    content = await content_of(session, template)
    framework = _new_draft(
        principal,
        lineage_id=new_id(),
        version=1,
        code=data.code,
        name=data.name,
        description=template.description,
        org_unit_id=data.org_unit_id,
        org_path=data.org_path,
        total_points=template.total_points,
        policy=template.policy,
        derived_from_id=template.id,
    )
    return await _insert_framework(session, framework, content.indicators)


async def new_version(session: AsyncSession, *, principal: Principal, framework_id: uuid.UUID) -> Framework:
    source = await _published_source(session, principal, framework_id)
    check_can_write_in(principal, source.org_path)
    latest = await session.scalar(select(func.max(Framework.version)).where(Framework.lineage_id == source.lineage_id))
    if latest != source.version:
        raise Conflict(f"Version {latest} is newer; derive the next version from it.")
    content = await content_of(session, source)
    framework = _new_draft(
        principal,
        lineage_id=source.lineage_id,
        version=source.version + 1,
        code=source.code,
        name=source.name,
        description=source.description,
        org_unit_id=source.org_unit_id,
        org_path=source.org_path,
        total_points=source.total_points,
        policy=source.policy,
        derived_from_id=source.derived_from_id,
        previous_version_id=source.id,
    )
    return await _insert_framework(session, framework, content.indicators)


def level_map(indicators: Sequence[Indicator]) -> dict[str, int]:
    parents = {i.code: i.parent_code for i in indicators}
    levels: dict[str, int] = {}
    for code in parents:
        depth, node, seen = 1, parents[code], {code}
        while node is not None and node in parents and node not in seen:
            seen.add(node)
            depth, node = depth + 1, parents[node]
        levels[code] = depth
    return levels
