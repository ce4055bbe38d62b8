"""Closed improvement cases recorded against the appraised object, for the cycles after the one
whose result the case answered (feedback_svc owns the case; appraisal keeps what it needs of it)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ARRAY, CheckConstraint, DateTime, Integer, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column


class ImprovementClosure(Base):
    """One closed case: the latest closing of a case wins (a reopened case closes again later)."""

    __tablename__ = "improvement_closure"
    __table_args__ = (
        CheckConstraint("tasks_verified <= tasks_total AND tasks_overdue <= tasks_total", name="task_counts"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))  # the plan whose result the case answered
    cycle_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    cycle_label: Mapped[str] = mapped_column(Text)
    result_version: Mapped[int] = mapped_column(Integer)
    org_path: Mapped[str] = mapped_column(Text)
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text))
    tasks_total: Mapped[int] = mapped_column(Integer)
    tasks_verified: Mapped[int] = mapped_column(Integer)
    tasks_overdue: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = created_at_column()
