"""Notices from events, and who reads them: the people whose scope covers the unit concerned."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.feedback_events import FEEDBACK_TASK_OVERDUE, TaskOverdue
from services.gateway.notification.models import Notification
from shared.auth.principal import Principal, Role
from shared.errors import Forbidden
from shared.events import CloudEvent
from shared.pagination import PageParams, encode_cursor

# Who acts on an overdue task: the owner unit itself, the office that runs the appraisal and
# supervision, which chases escalations. Finance, audit and legal have no part in it.
READERS = frozenset({Role.admin, Role.perf_office, Role.supervision, Role.department})


async def on_task_overdue(session: AsyncSession, event: CloudEvent) -> None:
    overdue = TaskOverdue.model_validate(event.data)
    stmt = insert(Notification).values(
        event_id=event.id,
        kind=FEEDBACK_TASK_OVERDUE,
        org_path=overdue.owner_org_path,
        subject_id=overdue.task_id,
        title=f"Overdue since {overdue.deadline.isoformat()}: {overdue.title}",
        detail=overdue.model_dump(mode="json"),
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=[Notification.event_id]))


async def notifications_for(
    session: AsyncSession, *, principal: Principal, page: PageParams, after_id: uuid.UUID | None
) -> tuple[list[Notification], str | None]:
    """Oldest first, so that a client polls from the last id it saw (``after_id``) or pages on."""
    if not principal.has_any(READERS):
        raise Forbidden("Your roles receive no notifications.")
    stmt = select(Notification)
    if principal.org_path != "/":
        scope = principal.org_path
        stmt = stmt.where(
            (Notification.org_path == scope) | Notification.org_path.startswith(scope + "/", autoescape=True)
        )
    start = max(c for c in (page.cursor, after_id) if c is not None) if (page.cursor or after_id) else None
    if start is not None:
        stmt = stmt.where(Notification.id > start)
    rows = list((await session.scalars(stmt.order_by(Notification.id).limit(page.limit + 1))).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return rows, encode_cursor(rows[-1].id) if more and rows else None
