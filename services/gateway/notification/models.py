"""Notifications the gateway keeps for people and client systems, from events of the services."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.gateway.db import Base
from shared.db import created_at_column
from shared.ids import new_id


class Notification(Base):
    """One notice about something in ``org_path``'s unit: seen by whoever's scope covers it."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_org_path_id", "org_path", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)  # v7: time order
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)  # one notice per event
    kind: Mapped[str] = mapped_column(Text)  # the event type it came from
    org_path: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))  # what it is about (a task ...)
    title: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = created_at_column()
