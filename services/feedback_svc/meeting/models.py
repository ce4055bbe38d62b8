"""Joint meetings of the member units around the performance office."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ARRAY, Date, Index, Integer, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.feedback_svc.db import Base
from shared.db import created_at_column
from shared.ids import new_id


class JointMeeting(Base):
    __tablename__ = "joint_meeting"
    __table_args__ = (Index("ix_joint_meeting_org_path", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    held_on: Mapped[dt.date] = mapped_column(Date)
    members_present: Mapped[list[str]] = mapped_column(ARRAY(Text))
    agenda: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # [{case_id, topic}]
    resolutions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # [{text, task_id, assignee, deadline}]
    recorded_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
