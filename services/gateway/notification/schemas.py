"""Notifications as clients read them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.pagination import Page


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    org_path: str
    subject_id: uuid.UUID
    title: str
    detail: dict[str, Any]
    created_at: dt.datetime


NotificationPage = Page[NotificationRead]
