"""Targets per (plan, object, leaf) and the amendments made after approval."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, Numeric, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class Target(Base):
    __tablename__ = "target"
    __table_args__ = (
        UniqueConstraint("plan_id", "object_id", "indicator_code"),
        CheckConstraint("status IN ('set', 'confirmed', 'approved')", name="status"),
        # Scoring never meets NaN (which numeric can hold) nor an unbounded value (docs/scoring.md).
        CheckConstraint(
            "target BETWEEN -1000000000000 AND 1000000000000"
            " AND (baseline IS NULL OR baseline BETWEEN -1000000000000 AND 1000000000000)",
            name="finite",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("plan.id", ondelete="CASCADE"))
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("appraisal_object.id"), index=True)
    indicator_code: Mapped[str] = mapped_column(Text)
    baseline: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))
    target: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="set")
    set_by: Mapped[str] = mapped_column(Text)
    set_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_by: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    lock_version: Mapped[int] = mapped_column(Integer, default=1)


class TargetAmendment(Base):
    __tablename__ = "target_amendment"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    target_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("target.id", ondelete="CASCADE"), index=True
    )
    old_baseline: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))
    old_target: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    new_baseline: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))
    new_target: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    reason: Mapped[str] = mapped_column(Text)
    amended_by: Mapped[str] = mapped_column(Text)
    amended_at: Mapped[dt.datetime] = created_at_column()
