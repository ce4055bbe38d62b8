"""Framework versions: kept from indicator.framework.published, read by plans."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal_svc.access import READERS, require_role
from services.appraisal_svc.framework import logic
from services.appraisal_svc.framework.events import FrameworkPublished
from services.appraisal_svc.framework.models import FrameworkVersion
from shared.auth.principal import Principal
from shared.errors import NotFound
from shared.events import CloudEvent
from shared.pagination import PageParams, paginate

log = logging.getLogger("govperf.appraisal.framework")


class ContentHashMismatch(ValueError):
    """The snapshot does not hash to what the producer claims: never stored (dead-lettered)."""


async def on_framework_published(session: AsyncSession, event: CloudEvent) -> None:
    published = FrameworkPublished.model_validate(event.data)
    actual = logic.content_hash(published.content)
    if actual != published.content_hash:
        raise ContentHashMismatch(
            f"framework {published.framework_id}: content hashes to {actual}, event says {published.content_hash}"
        )
    # A redelivery with a new event id still maps to one row: the version's id is the key.
    await session.execute(
        pg_insert(FrameworkVersion)
        .values(
            id=published.framework_id,
            lineage_id=published.lineage_id,
            version=published.version,
            code=published.content.code,
            name=published.content.name,
            org_path=published.org_path,
            content_hash=published.content_hash,
            snapshot=event.data["content"],
            published_at=published.published_at,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )


async def get_version(session: AsyncSession, *, principal: Principal, framework_id: uuid.UUID) -> FrameworkVersion:
    require_role(principal, READERS, "read frameworks")
    found = await session.get(FrameworkVersion, framework_id)
    if found is None:
        raise NotFound("No such framework version has been received.")
    return found


async def list_versions(
    session: AsyncSession, *, principal: Principal, page: PageParams, ids: list[uuid.UUID] | None = None
) -> tuple[list[FrameworkVersion], str | None]:
    require_role(principal, READERS, "read frameworks")
    stmt: Select[Any] = select(FrameworkVersion)
    if ids is not None:
        stmt = stmt.where(FrameworkVersion.id.in_(ids))
    return await paginate(session, stmt, FrameworkVersion.id, page)


def snapshot_of(version: FrameworkVersion) -> logic.Snapshot:
    return logic.Snapshot.model_validate(version.snapshot)
