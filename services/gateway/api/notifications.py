"""Notifications: what needs attention in the caller's scope (today: overdue rectification tasks)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.gateway.notification import service
from services.gateway.notification.schemas import NotificationPage, NotificationRead
from services.gateway.principal import GatewayPrincipal
from shared.openapi import problems
from shared.pagination import PageParams, page_params
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.get("/notifications", response_model=NotificationPage, responses=problems(401, 403))
async def list_notifications(
    session: DBSession,
    principal: GatewayPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    after_id: Annotated[uuid.UUID | None, Query(description="Only notices newer than this one (polling).")] = None,
) -> NotificationPage:
    """Notices about units in your scope, oldest first; poll with the last id you saw."""
    items, cursor = await service.notifications_for(session, principal=principal, page=page, after_id=after_id)
    return NotificationPage(items=[NotificationRead.model_validate(i) for i in items], next_cursor=cursor)
