"""GraphQL object types (camelCase in the schema). Relations resolve through the request's loaders."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry

from services.gateway.graph.context import GraphInfo
from services.gateway.graph.indicator_api import FrameworkRecord, IndicatorRecord
from services.gateway.identity.schemas import UserRead
from shared.auth.principal import Principal

ResolverT = TypeVar("ResolverT", bound=Callable[..., Any])


def documented_field(description: str) -> Callable[[ResolverT], ResolverT]:
    """``@strawberry.field(description=...)`` with its type kept (strawberry types it as Any)."""
    return cast(Callable[[ResolverT], ResolverT], strawberry.field(description=description))


@strawberry.enum(description="Lifecycle of a framework version.")
class FrameworkStatus(Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


# Indicator classifiers (category, kind, direction, tags, subjects) stay strings: they are the
# indicator service's vocabulary, and a new value there must not need a gateway release.
@strawberry.type(description="One indicator of a framework; the tree is given by parentCode and children.")
class Indicator:
    code: str
    name: str
    level: int = strawberry.field(description="1 for top-level indicators, 2 for their children, ...")
    parent_code: str | None
    weight: Decimal
    category: str | None = strawberry.field(description="null: inherited from the nearest ancestor.")
    kind: str
    direction: str
    unit: str | None
    nature_tags: list[str]
    evaluation_subjects: list[str]
    data_source: str | None
    responsible_unit: str | None
    scoring_method: str | None
    child_indicators: strawberry.Private[list[Indicator]]

    @documented_field("Direct sub-indicators, in display order (from the same batch, no extra call).")
    def children(self) -> list[Indicator]:
        return self.child_indicators


def indicator_tree(records: list[IndicatorRecord]) -> list[Indicator]:
    """All indicators of one framework in display order, each linked to its children."""
    indicators = [
        Indicator(
            code=r.code,
            name=r.name,
            level=r.level,
            parent_code=r.parent_code,
            weight=r.weight,
            category=r.category,
            kind=r.kind,
            direction=r.direction,
            unit=r.unit,
            nature_tags=list(r.nature_tags),
            evaluation_subjects=list(r.evaluation_subjects),
            data_source=r.data_source,
            responsible_unit=r.responsible_unit,
            scoring_method=r.scoring.method if r.scoring else None,
            child_indicators=[],
        )
        for r in sorted(records, key=lambda r: r.position)
    ]
    by_code = {indicator.code: indicator for indicator in indicators}
    for indicator in indicators:
        parent = by_code.get(indicator.parent_code) if indicator.parent_code else None
        if parent is not None:
            parent.child_indicators.append(indicator)
    return indicators


@strawberry.type(description="One version of an indicator framework.")
class Framework:
    id: uuid.UUID
    lineage_id: uuid.UUID = strawberry.field(description="Shared by every version of the same framework.")
    version: int
    code: str
    name: str
    description: str | None
    org_unit_id: uuid.UUID
    org_path: str
    status: FrameworkStatus
    total_points: Decimal
    content_hash: str | None
    published_at: dt.datetime | None
    derived_from_id: strawberry.Private[uuid.UUID | None]
    previous_version_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_record(cls, record: FrameworkRecord) -> Framework:
        return cls(
            id=record.id,
            lineage_id=record.lineage_id,
            version=record.version,
            code=record.code,
            name=record.name,
            description=record.description,
            org_unit_id=record.org_unit_id,
            org_path=record.org_path,
            status=FrameworkStatus(record.status),
            total_points=record.total_points,
            content_hash=record.content_hash,
            published_at=record.published_at,
            derived_from_id=record.derived_from_id,
            previous_version_id=record.previous_version_id,
        )

    @documented_field("The template this local framework was derived from, if you may read it.")
    async def derived_from(self, info: GraphInfo) -> Framework | None:
        return await load_framework(info, self.derived_from_id)

    @documented_field("The version this one was opened from, if you may read it.")
    async def previous_version(self, info: GraphInfo) -> Framework | None:
        return await load_framework(info, self.previous_version_id)

    @documented_field("Indicators in display order; topLevelOnly gives the roots of the tree.")
    async def indicators(self, info: GraphInfo, top_level_only: bool = False) -> list[Indicator]:
        indicators = indicator_tree(await info.context.loaders.indicators_by_framework_id.load(self.id))
        return [i for i in indicators if i.parent_code is None] if top_level_only else indicators


async def load_framework(info: GraphInfo, framework_id: uuid.UUID | None) -> Framework | None:
    if framework_id is None:
        return None
    record = await info.context.loaders.framework_by_id.load(framework_id)
    return Framework.from_record(record) if record is not None else None


@strawberry.type(description="A page of frameworks; pass nextCursor as `after` for the next one.")
class FrameworkConnection:
    items: list[Framework]
    next_cursor: str | None


@strawberry.type(description="The caller, as the verified token describes it.")
class Me:
    subject: str
    roles: list[str]
    org_unit_id: uuid.UUID
    org_path: str

    @classmethod
    def from_principal(cls, principal: Principal) -> Me:
        return cls(
            subject=principal.subject,
            roles=sorted(r.value for r in principal.roles),
            org_unit_id=principal.org_unit_id,
            org_path=principal.org_path,
        )


@strawberry.type(description="A person's account (admins see all; a performance office its own subtree).")
class User:
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    org_unit_id: uuid.UUID
    org_path: str
    disabled: bool
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def from_read(cls, user: UserRead) -> User:
        return cls(**{name: getattr(user, name) for name in cls.__annotations__})


@strawberry.type
class UserConnection:
    items: list[User]
    next_cursor: str | None
