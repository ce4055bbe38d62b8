"""Recording `feedback.case.closed` against the object, and reading an object's record."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.feedback_events import CaseClosed
from services.appraisal_svc.improvement.models import ImprovementClosure
from services.appraisal_svc.orgunit import service as orgunits
from shared.auth.principal import Principal
from shared.events import CloudEvent
from shared.pagination import PageParams, paginate


async def on_case_closed(session: AsyncSession, event: CloudEvent) -> None:
    """Upsert by case: a case reopened and closed again keeps only its latest closing; an older
    closing delivered late changes nothing."""
    closed = CaseClosed.model_validate(event.data)
    values = closed.model_dump(exclude={"object_kind", "org_unit_id"})
    stmt = insert(ImprovementClosure).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ImprovementClosure.case_id],
        set_={k: stmt.excluded[k] for k in values if k != "case_id"},
        where=ImprovementClosure.closed_at < stmt.excluded.closed_at,
    )
    await session.execute(stmt)


async def closures_of_object(
    session: AsyncSession, *, principal: Principal, object_id: uuid.UUID, page: PageParams
) -> tuple[list[ImprovementClosure], str | None]:
    """The object's closed cases (any cycle), for whoever may read the object."""
    await orgunits.get_object(session, principal=principal, object_id=object_id)  # role, scope, 404
    stmt = select(ImprovementClosure).where(ImprovementClosure.object_id == object_id)
    return await paginate(session, stmt, ImprovementClosure.case_id, page)
