"""Events the gateway consumes: appraisal's org tree, copied so accounts can be checked against it,
and feedback's overdue tasks, kept as notifications."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.feedback_events import FEEDBACK_TASK_OVERDUE
from contracts.org_units import APPRAISAL_ORGUNIT_CHANGED, OrgUnitChanged
from services.gateway.identity.service import apply_org_unit_change
from services.gateway.notification.service import on_task_overdue
from shared.events import CloudEvent
from shared.messaging.consumer import Handler


async def on_org_unit_changed(session: AsyncSession, event: CloudEvent) -> None:
    await apply_org_unit_change(session, change=OrgUnitChanged.model_validate(event.data), changed_at=event.time)


HANDLERS: dict[str, Handler] = {
    APPRAISAL_ORGUNIT_CHANGED: on_org_unit_changed,
    FEEDBACK_TASK_OVERDUE: on_task_overdue,
}
