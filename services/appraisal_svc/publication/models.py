"""Objections to a reviewed result and the performance office's rulings on them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ARRAY, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column
from shared.ids import new_id


class Objection(Base):
    __tablename__ = "objection"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'upheld', 'dismissed')", name="status"),
        Index("ix_objection_plan", "plan_id", "object_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("plan.id", ondelete="CASCADE"))
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("appraisal_object.id"))
    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("scoring_run.id"))  # version objected to
    indicator_code: Mapped[str | None] = mapped_column(Text)  # null: the result as a whole
    reason: Mapped[str] = mapped_column(Text)
    evidence_sha256: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    filed_by: Mapped[str] = mapped_column(Text)
    filed_org_path: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[dt.datetime] = created_at_column()
    status: Mapped[str] = mapped_column(Text, default="open")
    ruling_reason: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # what an upheld ruling changed
    ruled_by: Mapped[str | None] = mapped_column(Text)
    ruled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rescore_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
