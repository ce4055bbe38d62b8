"""Rectification tasks (from a counseling session's agreed actions or a joint meeting's
resolutions), their progress updates with evidence, and extension requests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, SmallInteger, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.feedback_svc.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'in_progress', 'submitted', 'verified')", name="status"),
        CheckConstraint("case_id IS NOT NULL OR meeting_id IS NOT NULL", name="origin"),
        Index("ix_task_owner_org_path", "owner_org_path", postgresql_ops={"owner_org_path": "text_pattern_ops"}),
        # The sweep looks only at unfinished tasks not yet marked overdue.
        Index("ix_task_due", "deadline", postgresql_where=text("overdue_at IS NULL AND status <> 'verified'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("improvement_case.id"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("counseling_session.id"))
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("joint_meeting.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    owner_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    owner_org_path: Mapped[str] = mapped_column(Text)
    # The org path whose readers see the task: the case's (or meeting's) unit, which may sit above the owner.
    scope_org_path: Mapped[str] = mapped_column(Text)
    deadline: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Text, default="open")
    percent_done: Mapped[int] = mapped_column(SmallInteger, default=0)
    overdue_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ever_overdue: Mapped[bool] = mapped_column(default=False)
    verified_by: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    verification_note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)


class TaskProgress(Base):
    __tablename__ = "task_progress"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    task_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("task.id"), index=True)
    note: Mapped[str] = mapped_column(Text)
    percent_done: Mapped[int] = mapped_column(SmallInteger)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    author: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()


class TaskExtension(Base):
    __tablename__ = "task_extension"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        # One pending request per task: a second one waits for the decision on the first.
        Index("uq_task_extension_one_pending", "task_id", unique=True, postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    task_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("task.id"), index=True)
    requested_deadline: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="pending")
    requested_by: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
