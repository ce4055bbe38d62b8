"""Appraisal plans, the objects they appraise and the leaves of their bound framework version."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, DateTime, ForeignKey, Integer, Numeric, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class Plan(Base):
    __tablename__ = "plan"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text)
    cycle_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("cycle.id"), index=True)
    framework_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("framework_version.id"))
    framework_hash: Mapped[str] = mapped_column(Text)
    owner_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("org_unit.id"), index=True)
    status: Mapped[str] = mapped_column(Text, default="draft")
    subject_weights: Mapped[dict[str, Any]] = mapped_column(JSONB)
    grade_scheme: Mapped[dict[str, Any]] = mapped_column(JSONB)
    missing_rule: Mapped[str] = mapped_column(Text)
    # Part 2 (docs/scoring.md): rounding, bonus cap, the expert rating window, objection period,
    # publication and the roll-up rule of annual and term plans.
    score_places: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    bonus_cap: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))
    rating_closes_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    objection_seconds: Mapped[int] = mapped_column(Integer, default=7 * 86400, server_default="604800")
    objection_closes_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    published_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    rollup: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    submission_deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    verification_deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)

    @property
    def objection_period(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.objection_seconds)


class PlanObject(Base):
    __tablename__ = "plan_object"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("plan.id", ondelete="CASCADE"), primary_key=True
    )
    object_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("appraisal_object.id"), primary_key=True, index=True
    )
    peer_group: Mapped[str] = mapped_column(Text)


class PlanLeaf(Base):
    """A leaf of the plan's framework version, flattened once so that collection, targets and
    scoring work set-based in SQL."""

    __tablename__ = "plan_leaf"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("plan.id", ondelete="CASCADE"), primary_key=True
    )
    indicator_code: Mapped[str] = mapped_column(Text, primary_key=True)
    metric: Mapped[str] = mapped_column(Text, index=True)
    name: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    weight: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    method: Mapped[str | None] = mapped_column(Text)
    scoring: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    evaluation_subjects: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
